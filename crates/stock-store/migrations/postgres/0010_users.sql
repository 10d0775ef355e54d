-- People who sign in to the admin console with a name and a password
-- (PBKDF2-HMAC-SHA256; the hash names its parameters).

CREATE TABLE admin_users (
    name           TEXT PRIMARY KEY NOT NULL,
    password_hash  TEXT NOT NULL,
    created_at     BIGINT NOT NULL
);
