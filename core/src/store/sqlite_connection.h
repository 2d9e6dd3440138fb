#pragma once
// Pieces shared by the SQLite store's files: connections, the pool, and the translation of
// SQLite's exceptions into StoreErrors. Internal to store/.

#include <SQLiteCpp/SQLiteCpp.h>

#include <any>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/sqlite_store.h"

namespace warmsite::store::sqlite {

StoreError translate(const SQLite::Exception& e, const std::string& context);

// Runs `work`, turning SQLite's exceptions into StoreErrors that say what was being done.
template <typename Work>
auto guarded(const std::string& context, Work&& work) {
  try {
    return work();
  } catch (const SQLite::Exception& e) {
    throw translate(e, context);
  }
}

// A connection with its prepared statements: preparing a statement costs more than running most
// of ours, so each connection keeps the ones it prepared. Used by one thread at a time (the pool
// hands it out), so the cache needs no lock.
class Connection : public SQLite::Database {
 public:
  using SQLite::Database::Database;

  // A statement for `sql`, from the cache when one is there.
  SQLite::Statement take(const std::string& sql);
  // Returns a statement after use; it must be reset and unbound.
  void give(const std::string& sql, SQLite::Statement statement);

  // What `parse` makes of a JSON column's `text`, `key` naming its column and row; parsed again
  // only when the text changed: a large plan's members take longer to parse than to read, and are
  // read far more often (every failover start, every edge update) than written.
  template <typename T, typename Parse>
  T parsed(const std::string& key, const std::string& text, Parse&& parse) {
    auto it = parsed_.find(key);
    if (it == parsed_.end() || it->second.text != text || !std::any_cast<T>(&it->second.value)) {
      if (it == parsed_.end() && parsed_.size() >= kMaxParsed) parsed_.clear();
      Parsed fresh{text, parse()};
      it = parsed_.insert_or_assign(key, std::move(fresh)).first;
    }
    return *std::any_cast<T>(&it->second.value);
  }

 private:
  static constexpr std::size_t kMaxStatements = 256;  // distinct SQL texts kept
  static constexpr std::size_t kMaxParsed = 1024;     // columns kept parsed (then all dropped)
  struct Parsed {
    std::string text;
    std::any value;
  };
  std::unordered_map<std::string, std::vector<SQLite::Statement>> statements_;
  std::unordered_map<std::string, Parsed> parsed_;
};

// Drop-in for SQLite::Statement on a pool connection: taken from the connection's cache, and
// given back reset and unbound when it goes out of scope.
class CachedStatement : public SQLite::Statement {
 public:
  CachedStatement(SQLite::Database& db, const std::string& sql);
  ~CachedStatement();
  CachedStatement(const CachedStatement&) = delete;
  CachedStatement& operator=(const CachedStatement&) = delete;

 private:
  Connection& connection_;
};

// Connections of one store file. WAL checkpoints run on a thread of the pool's own instead of
// SQLite's default (inside whichever commit crossed the threshold, holding the write lock).
class ConnectionPool {
 public:
  ConnectionPool(std::filesystem::path path, SqliteOptions options);
  ~ConnectionPool();

  std::unique_ptr<Connection> acquire();
  void release(std::unique_ptr<Connection> db);
  // The connection of write transactions, taken and given back with writerMutex() held: one
  // connection whose cache holds the write statements, instead of whichever idle one was last
  // released (whose statements the writer would prepare again).
  std::unique_ptr<Connection> acquireWriter();
  void releaseWriter(std::unique_ptr<Connection> db);
  const SqliteOptions& options() const noexcept { return options_; }
  // Held by the writer thread's transactions from before BEGIN IMMEDIATE to their end.
  std::mutex& writerMutex() noexcept { return writerMutex_; }
  // Whether the WAL is past the checkpoint threshold and no checkpoint copied all of it since the
  // last commit: writers added frames while the checkpointer copied. Until every frame is copied,
  // the WAL cannot start over from its beginning and grows.
  bool checkpointUnfinished() const noexcept {
    return walFrames_.load(std::memory_order_relaxed) >= kCheckpointPages &&
           walCommits_.load(std::memory_order_relaxed) !=
               finishedCommits_.load(std::memory_order_relaxed);
  }
  // Copies them, with writers held off. Called by the store's writer once it has had no work for a
  // while: the database file's sync that ends a checkpoint (about 2 ms on a virtual disk) then
  // delays no write, where the checkpointer, taking the lock at any time, made every writer of a
  // burst wait for it. Returns false when it should be tried again later: a reader still uses
  // frames it could not copy, or another checkpoint ran. Other errors (a full disk) are left to
  // the next commit.
  bool finishCheckpoint();

 private:
  // Above the threads that use the store at once (HTTP and engine workers): a connection closed
  // for want of room is opened and its statements prepared again at the next burst.
  static constexpr std::size_t kMaxIdle = 256;
  static constexpr int kCheckpointPages = 1000;  // SQLite's own auto-checkpoint threshold
  static constexpr int kCheckpointPagesInline = 3 * kCheckpointPages;
  // A WAL that is still over the threshold (its checkpoint unfinished) is checkpointed again only
  // once it grew by this much: not after every commit of a burst, each time syncing both files.
  static constexpr int kCheckpointGrowth = kCheckpointPages / 4;

  std::unique_ptr<Connection> open();
  // Called by SQLite after each commit with the pages in the WAL.
  static int onWalCommit(void* pool, sqlite3* db, const char* name, int pages);
  void checkpointLoop();

  const std::filesystem::path path_;
  const SqliteOptions options_;
  std::mutex mutex_;
  std::mutex writerMutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
  std::unique_ptr<Connection> writer_;        // with writerMutex_
  std::condition_variable checkpointWanted_;  // with mutex_
  bool wantCheckpoint_ = false;
  bool stopping_ = false;
  // Held around every checkpoint of this process: SQLite refuses a second at once (SQLITE_BUSY),
  // so a commit's own checkpoint would fail while the checkpointer's runs, and the WAL would grow.
  std::mutex checkpointMutex_;
  std::atomic<int> walFrames_{0};           // in the WAL after the last commit
  std::atomic<int> checkpointedFrames_{0};  // in the WAL when the checkpointer last ran
  std::atomic<std::uint64_t> walCommits_{0};
  std::atomic<std::uint64_t> finishedCommits_{0};  // walCommits_ when a checkpoint last completed
  std::thread checkpointer_;
};

// Binding and reading helpers for nullable and unsigned columns.
void bindOptional(SQLite::Statement& statement, int index,
                  const std::optional<std::int64_t>& value);
void bindOptional(SQLite::Statement& statement, int index,
                  const std::optional<std::uint64_t>& value);
void bindText(SQLite::Statement& statement, int index, const std::string& value);  // "" -> NULL
std::optional<std::int64_t> optionalInt64(const SQLite::Column& column);
std::optional<std::uint64_t> optionalUint64(const SQLite::Column& column);
std::string textOrEmpty(const SQLite::Column& column);
void bindAll(SQLite::Statement& statement, const std::vector<std::string>& values);

}  // namespace warmsite::store::sqlite
