#include "store/sqlite_store.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <mutex>
#include <vector>

#include "store/migrations.h"

namespace warmsite::store {

namespace {

using Kind = StoreError::Kind;

StoreError translate(const SQLite::Exception& e, const std::string& context) {
  const int primary = e.getErrorCode() & 0xff;
  const std::string message = context + ": " + e.what();
  switch (primary) {
    case SQLITE_CONSTRAINT:
      return StoreError(Kind::kConflict, message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return StoreError(Kind::kBusy, message + " (another writer holds the database)");
    case SQLITE_FULL:
      return StoreError(Kind::kFull, message + " (free disk space and retry)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return StoreError(Kind::kCorrupt, message);
    default:
      return StoreError(Kind::kIo, message);
  }
}

// Runs `work`, turning SQLite's exceptions into StoreErrors that say what was being done.
template <typename Work>
auto guarded(const std::string& context, Work&& work) {
  try {
    return work();
  } catch (const SQLite::Exception& e) {
    throw translate(e, context);
  }
}

std::unique_ptr<SQLite::Database> openConnection(const std::filesystem::path& path,
                                                 const SqliteOptions& options) {
  auto db = std::make_unique<SQLite::Database>(path.string(),
                                               SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE,
                                               static_cast<int>(options.busyTimeout.count()));
  db->exec("PRAGMA foreign_keys = ON");     // per connection: SQLite's default is off
  db->exec("PRAGMA synchronous = NORMAL");  // WAL + NORMAL: durable across process crashes
  return db;
}

class ConnectionPool {
 public:
  ConnectionPool(std::filesystem::path path, SqliteOptions options)
      : path_(std::move(path)), options_(options) {}

  std::unique_ptr<SQLite::Database> acquire() {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        auto db = std::move(idle_.back());
        idle_.pop_back();
        return db;
      }
    }
    return guarded("open store " + path_.string(), [&] { return openConnection(path_, options_); });
  }

  void release(std::unique_ptr<SQLite::Database> db) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < kMaxIdle) idle_.push_back(std::move(db));
  }

 private:
  static constexpr std::size_t kMaxIdle = 16;
  const std::filesystem::path path_;
  const SqliteOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<SQLite::Database>> idle_;
};

domain::Tenant readTenant(SQLite::Statement& row) {
  domain::Tenant tenant;
  tenant.id = row.getColumn(0).getString();
  tenant.name = row.getColumn(1).getString();
  tenant.description = row.getColumn(2).getString();
  tenant.enabled = row.getColumn(3).getInt() != 0;
  if (!row.getColumn(4).isNull()) tenant.leaseExpiresUnix = row.getColumn(4).getInt64();
  tenant.maxConcurrentTasks = static_cast<std::uint32_t>(row.getColumn(5).getInt64());
  tenant.createdUnix = row.getColumn(6).getInt64();
  return tenant;
}
constexpr const char* kTenantColumns =
    "id, name, description, enabled, lease_expires_unix, max_concurrent_tasks, created_unix";

domain::CloudHost readCloudHost(SQLite::Statement& row) {
  return {row.getColumn(0).getString(), row.getColumn(1).getString(), row.getColumn(2).getString(),
          row.getColumn(3).getString(), row.getColumn(4).getInt64()};
}
constexpr const char* kCloudHostColumns = "id, name, plugin, config_json, created_unix";

class SqliteTenantScope final : public TenantScope {
 public:
  SqliteTenantScope(SQLite::Database& db, std::string tenantId)
      : TenantScope(std::move(tenantId)), db_(db) {}

  std::optional<std::uint32_t> allocateVlan(const std::string& cloudHostId, bool internet,
                                            const std::string& networkId) override {
    return guarded("allocate a VLAN on cloud host " + cloudHostId,
                   [&]() -> std::optional<std::uint32_t> {
                     SQLite::Statement update(db_, R"sql(
        UPDATE vlans SET tenant_id = ?1, network_id = ?2
        WHERE cloud_host_id = ?3 AND vlan_id = (
          SELECT vlan_id FROM vlans
          WHERE cloud_host_id = ?3 AND internet = ?4 AND tenant_id IS NULL AND range_id IS NOT NULL
          ORDER BY vlan_id LIMIT 1)
        RETURNING vlan_id)sql");
                     update.bind(1, tenantId());
                     update.bind(2, networkId);
                     update.bind(3, cloudHostId);
                     update.bind(4, internet ? 1 : 0);
                     if (!update.executeStep()) return std::nullopt;
                     return static_cast<std::uint32_t>(update.getColumn(0).getInt());
                   });
  }

  std::vector<domain::VlanAllocation> vlans() override {
    return guarded("list VLANs of tenant " + tenantId(), [&] {
      SQLite::Statement query(db_, R"sql(
        SELECT cloud_host_id, vlan_id, internet, tenant_id, network_id FROM vlans
        WHERE tenant_id = ? ORDER BY cloud_host_id, vlan_id)sql");
      query.bind(1, tenantId());
      std::vector<domain::VlanAllocation> result;
      while (query.executeStep()) {
        result.push_back({query.getColumn(0).getString(),
                          static_cast<std::uint32_t>(query.getColumn(1).getInt()),
                          query.getColumn(2).getInt() != 0, query.getColumn(3).getString(),
                          query.getColumn(4).getString()});
      }
      return result;
    });
  }

  std::size_t releaseVlans(const std::string& cloudHostId) override {
    return guarded("release VLANs of tenant " + tenantId(), [&] {
      SQLite::Statement update(db_, R"sql(
        UPDATE vlans SET tenant_id = NULL, network_id = NULL WHERE tenant_id = ? AND cloud_host_id = ?)sql");
      update.bind(1, tenantId());
      update.bind(2, cloudHostId);
      return static_cast<std::size_t>(update.exec());
    });
  }

 private:
  SQLite::Database& db_;
};

class SqliteTransaction final : public Transaction {
 public:
  SqliteTransaction(ConnectionPool& pool, bool write) : pool_(pool), db_(pool.acquire()) {
    guarded(write ? "begin a write transaction" : "begin a read transaction",
            [&] { db_->exec(write ? "BEGIN IMMEDIATE" : "BEGIN"); });
  }

  ~SqliteTransaction() override {
    if (!done_) {
      try {
        db_->exec("ROLLBACK");
      } catch (const SQLite::Exception&) {
        // Nothing to roll back (the transaction already failed); the connection is still usable.
      }
    }
    pool_.release(std::move(db_));
  }

  void commit() override {
    guarded("commit", [&] { db_->exec("COMMIT"); });
    done_ = true;
  }

  void insertTenant(const domain::Tenant& tenant) override {
    guarded("create tenant \"" + tenant.name + "\"", [&] {
      SQLite::Statement insert(*db_, std::string("INSERT INTO tenants (") + kTenantColumns +
                                         ") VALUES (?, ?, ?, ?, ?, ?, ?)");
      insert.bind(1, tenant.id);
      insert.bind(2, tenant.name);
      insert.bind(3, tenant.description);
      insert.bind(4, tenant.enabled ? 1 : 0);
      if (tenant.leaseExpiresUnix) {
        insert.bind(5, *tenant.leaseExpiresUnix);
      } else {
        insert.bind(5);
      }
      insert.bind(6, static_cast<std::int64_t>(tenant.maxConcurrentTasks));
      insert.bind(7, tenant.createdUnix);
      insert.exec();
    });
  }

  std::optional<domain::Tenant> findTenant(const std::string& id) override {
    return guarded("read tenant " + id, [&]() -> std::optional<domain::Tenant> {
      SQLite::Statement query(
          *db_, std::string("SELECT ") + kTenantColumns + " FROM tenants WHERE id = ?");
      query.bind(1, id);
      if (!query.executeStep()) return std::nullopt;
      return readTenant(query);
    });
  }

  std::vector<domain::Tenant> listTenants() override {
    return guarded("list tenants", [&] {
      SQLite::Statement query(
          *db_, std::string("SELECT ") + kTenantColumns + " FROM tenants ORDER BY name");
      std::vector<domain::Tenant> result;
      while (query.executeStep()) result.push_back(readTenant(query));
      return result;
    });
  }

  std::unique_ptr<TenantScope> tenant(const std::string& tenantId) override {
    return std::make_unique<SqliteTenantScope>(*db_, tenantId);
  }

  void insertCloudHost(const domain::CloudHost& host) override {
    guarded("register cloud host \"" + host.name + "\"", [&] {
      SQLite::Statement insert(*db_, std::string("INSERT INTO cloud_hosts (") + kCloudHostColumns +
                                         ") VALUES (?, ?, ?, ?, ?)");
      insert.bind(1, host.id);
      insert.bind(2, host.name);
      insert.bind(3, host.plugin);
      insert.bind(4, host.configJson);
      insert.bind(5, host.createdUnix);
      insert.exec();
    });
  }

  std::optional<domain::CloudHost> findCloudHost(const std::string& id) override {
    return guarded("read cloud host " + id, [&]() -> std::optional<domain::CloudHost> {
      SQLite::Statement query(
          *db_, std::string("SELECT ") + kCloudHostColumns + " FROM cloud_hosts WHERE id = ?");
      query.bind(1, id);
      if (!query.executeStep()) return std::nullopt;
      return readCloudHost(query);
    });
  }

  std::vector<domain::CloudHost> listCloudHosts() override {
    return guarded("list cloud hosts", [&] {
      SQLite::Statement query(
          *db_, std::string("SELECT ") + kCloudHostColumns + " FROM cloud_hosts ORDER BY name");
      std::vector<domain::CloudHost> result;
      while (query.executeStep()) result.push_back(readCloudHost(query));
      return result;
    });
  }

  void deleteCloudHost(const std::string& id) override {
    guarded("delete cloud host " + id, [&] {
      SQLite::Statement allocated(
          *db_, "SELECT count(*) FROM vlans WHERE cloud_host_id = ? AND tenant_id IS NOT NULL");
      allocated.bind(1, id);
      allocated.executeStep();
      if (const int count = allocated.getColumn(0).getInt(); count > 0) {
        throw StoreError(Kind::kConflict, "cloud host " + id + " still has " +
                                              std::to_string(count) +
                                              " VLANs allocated to tenants");
      }
      for (const char* sql : {"DELETE FROM vlans WHERE cloud_host_id = ?",
                              "DELETE FROM vlan_ranges WHERE cloud_host_id = ?"}) {
        SQLite::Statement remove(*db_, sql);
        remove.bind(1, id);
        remove.exec();
      }
      SQLite::Statement remove(*db_, "DELETE FROM cloud_hosts WHERE id = ?");
      remove.bind(1, id);
      if (remove.exec() == 0) throw StoreError(Kind::kNotFound, "cloud host " + id + " not found");
    });
  }

  void insertVlanRange(const domain::VlanRange& range) override {
    guarded(
        "add VLAN range " + std::to_string(range.first) + "-" + std::to_string(range.last), [&] {
          SQLite::Statement overlap(*db_, R"sql(
        SELECT first_vlan, last_vlan FROM vlan_ranges
        WHERE cloud_host_id = ? AND first_vlan <= ? AND last_vlan >= ? LIMIT 1)sql");
          overlap.bind(1, range.cloudHostId);
          overlap.bind(2, static_cast<std::int64_t>(range.last));
          overlap.bind(3, static_cast<std::int64_t>(range.first));
          if (overlap.executeStep()) {
            throw StoreError(Kind::kConflict, "VLAN range " + std::to_string(range.first) + "-" +
                                                  std::to_string(range.last) + " overlaps range " +
                                                  overlap.getColumn(0).getString() + "-" +
                                                  overlap.getColumn(1).getString() +
                                                  " of cloud host " + range.cloudHostId);
          }
          SQLite::Statement insert(*db_, R"sql(
        INSERT INTO vlan_ranges (id, cloud_host_id, first_vlan, last_vlan, internet) VALUES (?, ?, ?, ?, ?))sql");
          insert.bind(1, range.id);
          insert.bind(2, range.cloudHostId);
          insert.bind(3, static_cast<std::int64_t>(range.first));
          insert.bind(4, static_cast<std::int64_t>(range.last));
          insert.bind(5, range.internet ? 1 : 0);
          insert.exec();
          // VLANs still allocated from an earlier range keep their row (and their tenant).
          SQLite::Statement fill(*db_, R"sql(
        WITH RECURSIVE seq(v) AS (SELECT ?1 UNION ALL SELECT v + 1 FROM seq WHERE v < ?2)
        INSERT INTO vlans (cloud_host_id, vlan_id, range_id, internet)
        SELECT ?3, v, ?4, ?5 FROM seq WHERE true
        ON CONFLICT (cloud_host_id, vlan_id) DO UPDATE SET range_id = excluded.range_id)sql");
          fill.bind(1, static_cast<std::int64_t>(range.first));
          fill.bind(2, static_cast<std::int64_t>(range.last));
          fill.bind(3, range.cloudHostId);
          fill.bind(4, range.id);
          fill.bind(5, range.internet ? 1 : 0);
          fill.exec();
        });
  }

  std::vector<domain::VlanRange> listVlanRanges(const std::string& cloudHostId) override {
    return guarded("list VLAN ranges of cloud host " + cloudHostId, [&] {
      SQLite::Statement query(*db_, R"sql(
        SELECT id, cloud_host_id, first_vlan, last_vlan, internet FROM vlan_ranges
        WHERE cloud_host_id = ? ORDER BY first_vlan)sql");
      query.bind(1, cloudHostId);
      std::vector<domain::VlanRange> result;
      while (query.executeStep()) {
        result.push_back({query.getColumn(0).getString(), query.getColumn(1).getString(),
                          static_cast<std::uint32_t>(query.getColumn(2).getInt()),
                          static_cast<std::uint32_t>(query.getColumn(3).getInt()),
                          query.getColumn(4).getInt() != 0});
      }
      return result;
    });
  }

 private:
  ConnectionPool& pool_;
  std::unique_ptr<SQLite::Database> db_;
  bool done_ = false;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::filesystem::path& path, const SqliteOptions& options)
      : pool_(path, options) {}

  std::unique_ptr<Transaction> beginWrite() override {
    return std::make_unique<SqliteTransaction>(pool_, true);
  }
  std::unique_ptr<Transaction> beginRead() override {
    return std::make_unique<SqliteTransaction>(pool_, false);
  }
  int schemaVersion() override {
    auto db = pool_.acquire();
    const int version = guarded("read schema version",
                                [&] { return db->execAndGet("PRAGMA user_version").getInt(); });
    pool_.release(std::move(db));
    return version;
  }

  ConnectionPool& pool() { return pool_; }

 private:
  ConnectionPool pool_;
};

}  // namespace

std::unique_ptr<Store> openSqliteStore(const std::filesystem::path& path,
                                       const SqliteOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw StoreError(Kind::kIo, "store " + path.string() + " is a directory, not a database file");
  }
  auto store = std::make_unique<SqliteStore>(path, options);
  auto db = store->pool().acquire();
  guarded("open store " + path.string(), [&] {
    // The first statement reads the header: a file that is not SQLite fails here (SQLITE_NOTADB).
    db->exec("PRAGMA journal_mode = WAL");
    if (options.integrityCheckAtOpen) {
      const std::string verdict = db->execAndGet("PRAGMA quick_check").getString();
      if (verdict != "ok") {
        throw StoreError(Kind::kCorrupt, "store " + path.string() +
                                             " failed its integrity check: " + verdict +
                                             "; restore it from a backup");
      }
    }
    migrate(*db);
  });
  store->pool().release(std::move(db));
  return store;
}

}  // namespace warmsite::store
