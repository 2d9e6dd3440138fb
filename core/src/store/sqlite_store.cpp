#include "store/sqlite_store.h"

#include "store/migrations.h"
#include "store/sqlite_transaction.h"

#include <algorithm>
#include <chrono>
#include <deque>
#include <future>
#include <stdexcept>

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
      db_(write ? pool.acquireWriter() : pool.acquire()) {
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
  if (writer_) {
    pool_.releaseWriter(std::move(db_));
  } else {
    pool_.release(std::move(db_));
  }
}

void SqliteTransaction::commit() {
  guarded("commit", [&] { run(*db_, "COMMIT"); });
  done_ = true;
}

std::exception_ptr SqliteTransaction::isolated(const std::function<void()>& part) {
  // Nested savepoints may share the name: ROLLBACK TO and RELEASE take the innermost.
  guarded("begin a write", [&] { run(*db_, "SAVEPOINT work"); });
  try {
    part();
  } catch (...) {
    auto error = std::current_exception();
    try {
      guarded("undo a write", [&] {
        run(*db_, "ROLLBACK TO work");
        run(*db_, "RELEASE work");
      });
    } catch (const StoreError&) {
      // SQLite already ended the whole transaction (a full disk, an I/O error). The part's own
      // store error says why (kFull) better than the missing savepoint; anything else does not.
      try {
        std::rethrow_exception(error);
      } catch (const StoreError& e) {
        throw StoreError(e.kind(), std::string(e.what()));
      } catch (...) {
      }
      throw;  // the undo's error
    }
    return error;
  }
  guarded("end a write", [&] { run(*db_, "RELEASE work"); });
  return nullptr;
}

std::unique_ptr<TenantScope> SqliteTransaction::tenant(const std::string& tenantId) {
  return std::make_unique<SqliteTenantScope>(*db_, tenantId);
}

namespace {

// The store's one writer: it takes every write queued meanwhile and commits them in one
// transaction, each in a savepoint of its own. Writers that arrive together (API requests, the
// failover journal, the task engine) then cost one lock hand-over and one commit, not one each,
// and none waits for a thread that holds the lock but is not running.
class WriteQueue {
 public:
  explicit WriteQueue(ConnectionPool& pool) : pool_(pool), writer_([this] { writerLoop(); }) {}
  ~WriteQueue() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      pending_.notify_one();
    }
    writer_.join();
  }

  std::future<void> submit(std::function<void(Transaction&)> work) {
    if (std::this_thread::get_id() == writer_.get_id())
      throw std::logic_error("a store write inside a store write would wait for itself");
    Item item{std::move(work), {}};
    auto done = item.done.get_future();
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(item));
    pending_.notify_one();
    return done;
  }

 private:
  static constexpr std::size_t kMaxBatch = 256;  // bounds the wait of a batch's first work
  struct Item {
    std::function<void(Transaction&)> work;
    std::promise<void> done;
  };

  void writerLoop() {
    while (true) {
      std::vector<Item> batch;
      {
        std::unique_lock lock(mutex_);
        waitForWork(lock);
        if (queue_.empty()) return;  // stopping, nothing left
        const auto count = std::min(queue_.size(), kMaxBatch);
        for (std::size_t i = 0; i < count; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      commit(batch);
    }
  }

  // A pause in the writes: no work for this long. Between the pieces of a burst there are tens of
  // microseconds; between a failover's waves, tens of milliseconds.
  static constexpr auto kPause = std::chrono::milliseconds(2);
  // A checkpoint a reader kept from finishing is tried again after twice the wait, up to this.
  static constexpr auto kLongestPause = std::chrono::milliseconds(256);

  // Waits for work; a checkpoint the checkpointer left unfinished is finished in a pause.
  void waitForWork(std::unique_lock<std::mutex>& lock) {
    const auto ready = [&] { return stopping_ || !queue_.empty(); };
    auto pause = kPause;
    while (!ready()) {
      if (!pool_.checkpointUnfinished()) {
        pending_.wait(lock, ready);
        return;
      }
      if (pending_.wait_for(lock, pause, ready)) return;
      lock.unlock();
      if (!pool_.finishCheckpoint()) pause = std::min(2 * pause, kLongestPause);
      lock.lock();
    }
  }

  void commit(std::vector<Item>& batch) {
    std::vector<std::exception_ptr> errors(batch.size());
    try {
      SqliteTransaction tx(pool_, true);
      if (batch.size() == 1) {
        batch.front().work(tx);  // alone: its exception rolls the transaction back
      } else {
        // Each work in a savepoint of its own. isolated() throws when SQLite already rolled the
        // whole transaction back (a full disk, an I/O error): then the batch fails with that error.
        for (std::size_t i = 0; i < batch.size(); ++i)
          errors[i] = tx.isolated([&] { batch[i].work(tx); });
      }
      tx.commit();
    } catch (...) {
      for (auto& error : errors) {
        if (!error) error = std::current_exception();
      }
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      // Released at once: the caller, not this thread, should be the last to hold an exception.
      auto done = std::move(batch[i].done);
      if (errors[i]) {
        done.set_exception(std::move(errors[i]));
      } else {
        done.set_value();
      }
    }
  }

  ConnectionPool& pool_;
  std::mutex mutex_;
  std::condition_variable pending_;
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::thread writer_;
};

class SqliteStore final : public Store {
 public:
  SqliteStore(const std::filesystem::path& path, const SqliteOptions& options)
      : pool_(path, options), writes_(pool_) {}

  std::future<void> submitWrite(std::function<void(Transaction&)> work) override {
    return writes_.submit(std::move(work));
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
  WriteQueue writes_;  // after pool_: stopped before it
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
