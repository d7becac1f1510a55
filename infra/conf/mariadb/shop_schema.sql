-- The shop database whose changes Debezium streams into the shop.* topics (topics.md, section
-- 2). One table per topic, the contract's columns. Types chosen for what Debezium's MySQL
-- connector writes as the contract asks, with its default settings:
--   DATETIME(3)  epoch milliseconds, UTC (the values are stored as UTC wall-clock times)
--   BIGINT/INT   JSON integers (amounts are whole won, never DECIMAL)
--   VARCHAR      strings (statuses, plans, platforms)
-- Run by infra/shop_database.py (and docker-compose.yml's MariaDB) on an empty database.
CREATE TABLE IF NOT EXISTS malls (
    id BIGINT PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    plan VARCHAR(16) NOT NULL,
    status VARCHAR(16) NOT NULL,
    created_at DATETIME(3) NOT NULL
);

CREATE TABLE IF NOT EXISTS members (
    id BIGINT PRIMARY KEY,
    mall_id BIGINT NOT NULL,
    email VARCHAR(320) NOT NULL,
    status VARCHAR(16) NOT NULL,
    joined_at DATETIME(3) NOT NULL
);

CREATE TABLE IF NOT EXISTS products (
    id BIGINT PRIMARY KEY,
    mall_id BIGINT NOT NULL,
    name VARCHAR(200) NOT NULL,
    price BIGINT NOT NULL,
    status VARCHAR(16) NOT NULL,
    created_at DATETIME(3) NOT NULL
);

CREATE TABLE IF NOT EXISTS orders (
    id BIGINT PRIMARY KEY,
    mall_id BIGINT NOT NULL,
    member_id BIGINT NULL,
    status VARCHAR(16) NOT NULL,
    total_amount BIGINT NOT NULL,
    created_at DATETIME(3) NOT NULL,
    paid_at DATETIME(3) NULL,
    updated_at DATETIME(3) NOT NULL
);

CREATE TABLE IF NOT EXISTS cart_items (
    id BIGINT PRIMARY KEY,
    mall_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    product_id BIGINT NOT NULL,
    quantity INT NOT NULL,
    added_at DATETIME(3) NOT NULL
);

CREATE TABLE IF NOT EXISTS coupons (
    id BIGINT PRIMARY KEY,
    mall_id BIGINT NOT NULL,
    member_id BIGINT NOT NULL,
    campaign VARCHAR(64) NOT NULL,
    issued_at DATETIME(3) NOT NULL,
    used_at DATETIME(3) NULL,
    expires_at DATETIME(3) NULL
);

CREATE TABLE IF NOT EXISTS app_installs (
    id BIGINT PRIMARY KEY,
    mall_id BIGINT NOT NULL,
    device_id VARCHAR(64) NOT NULL,
    platform VARCHAR(16) NOT NULL,
    installed_at DATETIME(3) NOT NULL,
    uninstalled_at DATETIME(3) NULL
);
