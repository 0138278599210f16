-- The storefront's schema and seed rows (idempotent). Run once against the database the storefront uses:
--   psql "host=127.0.0.1 port=5432 user=postgres dbname=storefront" -f samples/Levee.Sample.Storefront/catalog.sql
-- samples/storefront.sh has `levee sandbox --sql` run it against its throw-away PostgreSQL.
CREATE TABLE IF NOT EXISTS categories (id int PRIMARY KEY, name text NOT NULL, active bool NOT NULL);
CREATE TABLE IF NOT EXISTS products (id int PRIMARY KEY, name text NOT NULL, price numeric NOT NULL, featured bool NOT NULL, version int NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS users (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL);
CREATE TABLE IF NOT EXISTS site_settings (key text PRIMARY KEY, value text NOT NULL);

INSERT INTO categories SELECT g, 'Category ' || g, g % 3 <> 0 FROM generate_series(1, 30) g ON CONFLICT DO NOTHING;
INSERT INTO products SELECT g, 'Product ' || g, (g % 97) + 0.99, g % 50 = 0, 1 FROM generate_series(1, 5000) g ON CONFLICT DO NOTHING;
INSERT INTO users SELECT g, 'User ' || g, 'user' || g || '@example.com' FROM generate_series(1, 1000) g ON CONFLICT DO NOTHING;
INSERT INTO site_settings VALUES ('title', 'Levee storefront'), ('currency', 'EUR') ON CONFLICT DO NOTHING;
