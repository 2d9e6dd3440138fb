#include "store/migrations.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>

#include "store/store.h"

namespace warmsite::store {

namespace {

constexpr Migration kMigrations[] = {
    {1, "tenants and cloud hosts", R"sql(
CREATE TABLE tenants (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 128),
  description TEXT NOT NULL DEFAULT '',
  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  lease_expires_unix INTEGER,
  max_concurrent_tasks INTEGER NOT NULL DEFAULT 10 CHECK (max_concurrent_tasks >= 1),
  created_unix INTEGER NOT NULL
);
CREATE TABLE cloud_hosts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 128),
  plugin TEXT NOT NULL,
  config_json TEXT NOT NULL,
  created_unix INTEGER NOT NULL
);
)sql"},
    {2, "VLAN ranges and allocations", R"sql(
CREATE TABLE vlan_ranges (
  id TEXT PRIMARY KEY,
  cloud_host_id TEXT NOT NULL REFERENCES cloud_hosts(id),
  first_vlan INTEGER NOT NULL CHECK (first_vlan BETWEEN 1 AND 4094),
  last_vlan INTEGER NOT NULL CHECK (last_vlan BETWEEN first_vlan AND 4094),
  internet INTEGER NOT NULL CHECK (internet IN (0, 1))
);
CREATE INDEX vlan_ranges_by_host ON vlan_ranges(cloud_host_id, first_vlan);
-- One row per VLAN of every range, free (tenant_id NULL) or allocated: allocation is a single
-- UPDATE of the lowest free row, and the primary key makes a double allocation impossible.
CREATE TABLE vlans (
  cloud_host_id TEXT NOT NULL REFERENCES cloud_hosts(id),
  vlan_id INTEGER NOT NULL,
  range_id TEXT REFERENCES vlan_ranges(id) ON DELETE SET NULL,
  internet INTEGER NOT NULL CHECK (internet IN (0, 1)),
  tenant_id TEXT REFERENCES tenants(id),
  network_id TEXT,
  PRIMARY KEY (cloud_host_id, vlan_id)
) WITHOUT ROWID;
CREATE INDEX vlans_free ON vlans(cloud_host_id, internet, vlan_id) WHERE tenant_id IS NULL;
CREATE INDEX vlans_by_tenant ON vlans(tenant_id, cloud_host_id) WHERE tenant_id IS NOT NULL;
)sql"},
};

}  // namespace

std::span<const Migration> migrations() {
  return kMigrations;
}

int latestSchemaVersion() {
  return kMigrations[std::size(kMigrations) - 1].version;
}

namespace {

int checkedVersion(SQLite::Database& db) {
  const int current = db.execAndGet("PRAGMA user_version").getInt();
  if (current > latestSchemaVersion()) {
    throw StoreError(StoreError::Kind::kSchema,
                     "store " + db.getFilename() + " has schema version " +
                         std::to_string(current) + ", newer than this Warmsite understands (" +
                         std::to_string(latestSchemaVersion()) + "); upgrade Warmsite");
  }
  return current;
}

}  // namespace

void migrate(SQLite::Database& db, int targetVersion) {
  if (checkedVersion(db) >= targetVersion) return;
  for (const auto& migration : kMigrations) {
    if (migration.version > targetVersion) break;
    SQLite::Transaction tx(db, SQLite::TransactionBehavior::IMMEDIATE);
    if (checkedVersion(db) >= migration.version) continue;  // another process got here first
    db.exec(std::string(migration.sql));
    db.exec("PRAGMA user_version = " + std::to_string(migration.version));
    tx.commit();
  }
}

}  // namespace warmsite::store
