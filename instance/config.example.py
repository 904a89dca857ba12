# Copy to instance/config.py and edit. Environment variables of the same name win over this file.
# Every key is documented in docs/CONFIGURATION.md.

# sandbox (offline, default) | test (KCP's T0000 staging) | live
KCP_ENV = "test"
KCP_SITE_CD = "T0000"
KCP_SITE_NAME = "My Shop"

# The certificate and encrypted PKCS#8 private key KCP hands out (never commit them).
KCP_CERT_FILE = "/etc/kcp/cert.pem"
KCP_KEY_FILE = "/etc/kcp/splPrikeyPKCS8.pem"
KCP_KEY_PASSWORD = "change-me"

# Seconds each KCP API call may take before the outcome is treated as unknown.
KCP_TIMEOUT = "10"

# Smartphone flow: the address buyers reach the shop at (Ret_URL is built on it), and the methods
# the phone page offers as KCP's ActionResult words.
# SHOP_PUBLIC_URL = "https://shop.example.com"
# KCP_MOBILE_METHODS = "card,acnt,vcnt,mobx"

# The encoding KCP's merchant admin is set to for notifications: euc-kr (KCP's default), utf-8, or auto.
# KCP_NOTIFY_CHARSET = "auto"

# DATABASE_URL = "postgresql+psycopg://shop:secret@127.0.0.1/shop"
# SECRET_KEY = "a long random string"      # required in live
# ADMIN_PASSWORD = "staff password"        # required in live

# Tuning (instance/config.py only; docs/CONFIGURATION.md explains each):
# NOTIFY_MAX_BATCH = 64
# NOTIFY_GATHER_MS = 0.3
# NOTIFY_PIPELINE = True                   # False behind a PostgreSQL proxy without pipeline mode
# COMMON_RETURN_LIMIT = 30                 # per COMMON_RETURN_WINDOW_SECONDS, senders not in KCP_NOTIFY_IPS
# COMMON_RETURN_REFUSED_ROWS = 20          # refused senders logged one row each per window; the rest counted
# ORDER_FORM_MAX_AGE = 10800               # seconds an order page can create its order
# ADMIN_LOGIN_LIMIT = 5                    # failed logins per ADMIN_LOGIN_WINDOW_MINUTES
