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
    {3, "accounts, sessions, audit, settings, public IPs, plans, subscriptions, tasks", R"sql(
CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  role TEXT NOT NULL CHECK (role IN ('provider', 'tenant')),
  tenant_id TEXT UNIQUE REFERENCES tenants(id) ON DELETE CASCADE,
  password_hash TEXT NOT NULL,
  failed_logins INTEGER NOT NULL DEFAULT 0,
  locked_until_unix INTEGER,
  created_unix INTEGER NOT NULL,
  CHECK ((role = 'tenant') = (tenant_id IS NOT NULL))
);
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
  created_unix INTEGER NOT NULL,
  expires_unix INTEGER NOT NULL
);
CREATE INDEX sessions_by_account ON sessions(account_id);
-- No foreign keys: the history outlives the tenants and accounts it names.
CREATE TABLE audit_log (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  at_unix_ms INTEGER NOT NULL,
  actor TEXT NOT NULL,
  actor_role TEXT NOT NULL,
  tenant_id TEXT,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  status INTEGER NOT NULL,
  result TEXT NOT NULL,
  message TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_tenant ON audit_log(tenant_id, id);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE plans (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE COLLATE NOCASE,
  description TEXT NOT NULL DEFAULT '',
  cloud_host_id TEXT NOT NULL REFERENCES cloud_hosts(id),
  cpu_mhz INTEGER CHECK (cpu_mhz IS NULL OR cpu_mhz >= 1),
  memory_mb INTEGER CHECK (memory_mb IS NULL OR memory_mb >= 1),
  networks_with_internet INTEGER NOT NULL CHECK (networks_with_internet >= 0),
  networks_without_internet INTEGER NOT NULL CHECK (networks_without_internet >= 0),
  created_unix INTEGER NOT NULL,
  updated_unix INTEGER NOT NULL
);
CREATE TABLE plan_storages (
  plan_id TEXT NOT NULL REFERENCES plans(id) ON DELETE CASCADE,
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  backend_storage TEXT NOT NULL,
  quota_gb INTEGER NOT NULL CHECK (quota_gb >= 1),
  PRIMARY KEY (plan_id, name)
);
CREATE TABLE subscriptions (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  plan_id TEXT NOT NULL REFERENCES plans(id),
  cloud_host_id TEXT NOT NULL REFERENCES cloud_hosts(id),
  state TEXT NOT NULL,
  error TEXT NOT NULL DEFAULT '',
  public_ip_count INTEGER NOT NULL,
  created_unix INTEGER NOT NULL,
  UNIQUE (tenant_id, plan_id)
);
CREATE INDEX subscriptions_by_plan ON subscriptions(plan_id);
CREATE TABLE subscription_networks (
  network_id TEXT PRIMARY KEY,
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  position INTEGER NOT NULL,
  name TEXT NOT NULL,
  vlan_id INTEGER NOT NULL,
  internet INTEGER NOT NULL CHECK (internet IN (0, 1))
);
CREATE INDEX subscription_networks_by_subscription ON subscription_networks(subscription_id, position);
-- sort_key: the address bytes, so allocation can take the lowest free address of the pool.
CREATE TABLE public_ips (
  address TEXT PRIMARY KEY,
  family INTEGER NOT NULL CHECK (family IN (4, 6)),
  sort_key BLOB NOT NULL,
  tenant_id TEXT REFERENCES tenants(id),
  subscription_id TEXT REFERENCES subscriptions(id),
  CHECK ((tenant_id IS NULL) = (subscription_id IS NULL))
);
CREATE INDEX public_ips_free ON public_ips(sort_key) WHERE tenant_id IS NULL;
CREATE INDEX public_ips_by_tenant ON public_ips(tenant_id) WHERE tenant_id IS NOT NULL;
CREATE TABLE tasks (
  id TEXT PRIMARY KEY,
  tenant_id TEXT REFERENCES tenants(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  target_id TEXT NOT NULL,
  state TEXT NOT NULL,
  progress INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  created_by TEXT NOT NULL,
  created_unix INTEGER NOT NULL,
  started_unix INTEGER,
  finished_unix INTEGER
);
CREATE INDEX tasks_by_state ON tasks(state, created_unix);
CREATE INDEX tasks_by_tenant ON tasks(tenant_id, created_unix);
CREATE TABLE replicas (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  subscription_id TEXT NOT NULL REFERENCES subscriptions(id),
  name TEXT NOT NULL,
  created_unix INTEGER NOT NULL
);
CREATE INDEX replicas_by_subscription ON replicas(subscription_id);
)sql"},
    {4, "replicas, restore points, failover plans and sessions, task cancel", R"sql(
ALTER TABLE replicas ADD COLUMN vcpus INTEGER NOT NULL DEFAULT 1;
ALTER TABLE replicas ADD COLUMN cpu_mhz INTEGER NOT NULL DEFAULT 0;
ALTER TABLE replicas ADD COLUMN memory_mb INTEGER NOT NULL DEFAULT 0;
-- Disks and NICs as JSON: always read and written with their replica, never queried alone.
ALTER TABLE replicas ADD COLUMN devices_json TEXT NOT NULL DEFAULT '{"disks":[],"nics":[]}';
ALTER TABLE replicas ADD COLUMN state TEXT NOT NULL DEFAULT 'ready';
ALTER TABLE replicas ADD COLUMN error TEXT NOT NULL DEFAULT '';
ALTER TABLE replicas ADD COLUMN deleting INTEGER NOT NULL DEFAULT 0;
CREATE INDEX replicas_by_tenant ON replicas(tenant_id, name);
CREATE TABLE restore_points (
  id TEXT NOT NULL,
  replica_id TEXT NOT NULL REFERENCES replicas(id) ON DELETE CASCADE,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  description TEXT NOT NULL DEFAULT '',
  created_unix INTEGER NOT NULL,
  PRIMARY KEY (replica_id, id)
);
ALTER TABLE subscription_networks ADD COLUMN subnet TEXT NOT NULL DEFAULT '';
CREATE TABLE failover_plans (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL COLLATE NOCASE,
  description TEXT NOT NULL DEFAULT '',
  parallelism INTEGER NOT NULL CHECK (parallelism >= 1),
  members_json TEXT NOT NULL,
  pre_script TEXT NOT NULL DEFAULT '',
  pre_timeout_s INTEGER NOT NULL DEFAULT 300,
  post_script TEXT NOT NULL DEFAULT '',
  post_timeout_s INTEGER NOT NULL DEFAULT 300,
  state TEXT NOT NULL,
  last_session_id TEXT NOT NULL DEFAULT '',
  created_unix INTEGER NOT NULL,
  UNIQUE (tenant_id, name)
);
-- Which replica is in which plan, for "a replica in a plan cannot be deleted".
CREATE TABLE failover_plan_members (
  plan_id TEXT NOT NULL REFERENCES failover_plans(id) ON DELETE CASCADE,
  replica_id TEXT NOT NULL REFERENCES replicas(id),
  PRIMARY KEY (plan_id, replica_id)
);
CREATE INDEX failover_plan_members_by_replica ON failover_plan_members(replica_id);
CREATE TABLE failover_sessions (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  plan_id TEXT NOT NULL DEFAULT '',
  task_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  restore_point_before_unix INTEGER,
  test_duration_s INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT '',
  script_output TEXT NOT NULL DEFAULT '',
  started_by TEXT NOT NULL,
  started_unix INTEGER NOT NULL,
  finished_unix INTEGER
);
CREATE INDEX failover_sessions_by_plan ON failover_sessions(tenant_id, plan_id, started_unix);
CREATE INDEX failover_sessions_by_state ON failover_sessions(state);
CREATE TABLE session_vms (
  session_id TEXT NOT NULL REFERENCES failover_sessions(id) ON DELETE CASCADE,
  replica_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  state TEXT NOT NULL,
  step TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  restore_point_id TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  started_unix INTEGER,
  finished_unix INTEGER,
  PRIMARY KEY (session_id, replica_id)
);
ALTER TABLE tasks ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
)sql"},
    {5, "replication jobs and runs, restore point origin and size", R"sql(
ALTER TABLE restore_points ADD COLUMN origin TEXT NOT NULL DEFAULT 'snapshot';
ALTER TABLE restore_points ADD COLUMN data_bytes INTEGER NOT NULL DEFAULT 0;
CREATE TABLE replication_jobs (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  name TEXT NOT NULL COLLATE NOCASE CHECK (length(name) BETWEEN 1 AND 128),
  replica_ids_json TEXT NOT NULL,
  schedule_minutes INTEGER CHECK (schedule_minutes >= 1),
  retention INTEGER NOT NULL CHECK (retention >= 1),
  created_unix INTEGER NOT NULL,
  UNIQUE (tenant_id, name)
);
CREATE TABLE replication_runs (
  id TEXT PRIMARY KEY,
  tenant_id TEXT NOT NULL REFERENCES tenants(id),
  replica_id TEXT NOT NULL REFERENCES replicas(id) ON DELETE CASCADE,
  job_id TEXT NOT NULL DEFAULT '',
  kind TEXT NOT NULL CHECK (kind IN ('full', 'incremental')),
  reason TEXT NOT NULL DEFAULT '',
  state TEXT NOT NULL,
  base_restore_point_id TEXT NOT NULL DEFAULT '',
  restore_point_id TEXT NOT NULL DEFAULT '',
  disks_json TEXT NOT NULL DEFAULT '[]',
  error TEXT NOT NULL DEFAULT '',
  started_unix INTEGER NOT NULL,
  finished_unix INTEGER
);
CREATE INDEX replication_runs_by_replica ON replication_runs(tenant_id, replica_id, started_unix);
CREATE INDEX replication_runs_by_state ON replication_runs(state);
)sql"},
    {6, "indexes for what every task and session start reads; session VMs without a rowid", R"sql(
-- A tenant's running tasks and sessions in progress are counted at every start: found by tenant
-- and state, not by scanning the tenant's whole history.
CREATE INDEX tasks_by_tenant_state ON tasks(tenant_id, state);
DROP INDEX failover_sessions_by_state;
CREATE INDEX failover_sessions_by_state ON failover_sessions(state, tenant_id);
-- A tenant's restore points and replicas come in the order they are listed, without a sort.
CREATE INDEX restore_points_by_tenant ON restore_points(tenant_id, replica_id, created_unix);
DROP INDEX replicas_by_tenant;
CREATE INDEX replicas_by_tenant ON replicas(tenant_id, name, id);
-- Session VMs live in their primary key's tree alone: one tree written per row, not two.
CREATE TABLE session_vms_keyed (
  session_id TEXT NOT NULL REFERENCES failover_sessions(id) ON DELETE CASCADE,
  replica_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  state TEXT NOT NULL,
  step TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0,
  restore_point_id TEXT NOT NULL DEFAULT '',
  error TEXT NOT NULL DEFAULT '',
  started_unix INTEGER,
  finished_unix INTEGER,
  PRIMARY KEY (session_id, replica_id)
) WITHOUT ROWID;
INSERT INTO session_vms_keyed (session_id, replica_id, position, state, step, attempts,
                               restore_point_id, error, started_unix, finished_unix)
  SELECT session_id, replica_id, position, state, step, attempts, restore_point_id, error,
         started_unix, finished_unix FROM session_vms
  -- Rows of a session no longer there (only a hand edit leaves them) would fail the foreign key.
  WHERE session_id IN (SELECT id FROM failover_sessions);
DROP TABLE session_vms;
ALTER TABLE session_vms_keyed RENAME TO session_vms;
)sql"},
    {7, "a tenant's sessions newest first without a sort; logins by expiry", R"sql(
-- An undo reads back from the newest session only until it found each replica's last failover,
-- and a tenant's session list takes its first page, not its whole history sorted.
CREATE INDEX failover_sessions_by_tenant ON failover_sessions(tenant_id, started_unix);
-- A tenant's sessions in progress (read at every session start) come in order from the state's
-- index too: otherwise the index above, which needs no sort, would be chosen and every session of
-- the tenant's history read to find them.
DROP INDEX failover_sessions_by_state;
CREATE INDEX failover_sessions_by_state ON failover_sessions(state, tenant_id, started_unix);
-- Every login drops the expired logins: found by expiry, not by reading every live login.
CREATE INDEX sessions_by_expiry ON sessions(expires_unix);
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
