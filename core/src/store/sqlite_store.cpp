#include "store/sqlite_store.h"

#include "store/migrations.h"
#include "store/sqlite_transaction.h"

namespace warmsite::store {

namespace sqlite {

namespace {

// BEGIN, COMMIT and ROLLBACK as cached statements: Database::exec would parse them every time,
// which cost a quarter of a simple authenticated read.
void run(Connection& db, const std::string& sql) {
  CachedStatement(db, sql).exec();
}

}  // namespace

SqliteTransaction::SqliteTransaction(ConnectionPool& pool, bool write)
    : pool_(pool),
      writer_(write ? std::unique_lock(pool.writerMutex()) : std::unique_lock<std::mutex>()),
      db_(pool.acquire()) {
  guarded(write ? "begin a write transaction" : "begin a read transaction",
          [&] { run(*db_, write ? "BEGIN IMMEDIATE" : "BEGIN"); });
}

SqliteTransaction::~SqliteTransaction() {
  if (!done_) {
    try {
      run(*db_, "ROLLBACK");
    } catch (const SQLite::Exception&) {
      // Nothing to roll back (the transaction already ended); the connection is still usable.
    }
  }
  pool_.release(std::move(db_));
}

void SqliteTransaction::commit() {
  guarded("commit", [&] { run(*db_, "COMMIT"); });
  done_ = true;
}

std::unique_ptr<TenantScope> SqliteTransaction::tenant(const std::string& tenantId) {
  return std::make_unique<SqliteTenantScope>(*db_, tenantId);
}

namespace {

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
}  // namespace sqlite

std::unique_ptr<Store> openSqliteStore(const std::filesystem::path& path,
                                       const SqliteOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw StoreError(StoreError::Kind::kIo,
                     "store " + path.string() + " is a directory, not a database file");
  }
  auto store = std::make_unique<sqlite::SqliteStore>(path, options);
  auto db = store->pool().acquire();
  sqlite::guarded("open store " + path.string(), [&] {
    // The first statement reads the header: a file that is not SQLite fails here (SQLITE_NOTADB).
    db->exec("PRAGMA journal_mode = WAL");
    if (options.integrityCheckAtOpen) {
      const std::string verdict = db->execAndGet("PRAGMA quick_check").getString();
      if (verdict != "ok") {
        throw StoreError(StoreError::Kind::kCorrupt, "store " + path.string() +
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
