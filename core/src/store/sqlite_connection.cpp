#include "store/sqlite_connection.h"

#include <sqlite3.h>

namespace warmsite::store::sqlite {

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

SQLite::Statement Connection::take(const std::string& sql) {
  if (auto it = statements_.find(sql); it != statements_.end() && !it->second.empty()) {
    SQLite::Statement statement = std::move(it->second.back());
    it->second.pop_back();
    return statement;
  }
  return SQLite::Statement(*this, sql);
}

void Connection::give(const std::string& sql, SQLite::Statement statement) {
  auto it = statements_.find(sql);
  if (it == statements_.end()) {
    if (statements_.size() >= kMaxStatements) return;  // finalized here instead
    it = statements_.emplace(sql, std::vector<SQLite::Statement>{}).first;
  }
  it->second.push_back(std::move(statement));
}

// Every database of the store comes from ConnectionPool::acquire, so it is a Connection.
CachedStatement::CachedStatement(SQLite::Database& db, const std::string& sql)
    : SQLite::Statement(static_cast<Connection&>(db).take(sql)),
      connection_(static_cast<Connection&>(db)) {}

CachedStatement::~CachedStatement() {
  // A statement that cannot be reset and unbound is finalized rather than kept.
  if (tryReset() != SQLITE_OK) return;
  try {
    clearBindings();
    const std::string sql = getQuery();  // a copy: the move below empties the original
    connection_.give(sql, std::move(*this));
  } catch (const SQLite::Exception&) {
  }
}

ConnectionPool::ConnectionPool(std::filesystem::path path, SqliteOptions options)
    : path_(std::move(path)), options_(std::move(options)) {
  // SQLite counts every allocation under one process-wide mutex unless told not to; the counts
  // are never read here. Refused (harmlessly) once SQLite is initialized: the first pool decides.
  static std::once_flag memoryStatistics;
  std::call_once(memoryStatistics, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  checkpointer_ = std::thread([this] { checkpointLoop(); });
}

ConnectionPool::~ConnectionPool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    checkpointWanted_.notify_all();
  }
  checkpointer_.join();
}

std::unique_ptr<Connection> ConnectionPool::open() {
  return guarded("open store " + path_.string(), [&] {
    auto db =
        // NOMUTEX: a connection is used by one thread at a time (the pool's), so its own mutex
        // would only cost.
        std::make_unique<Connection>(
            path_.string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX,
            static_cast<int>(options_.busyTimeout.count()));
    db->exec("PRAGMA foreign_keys = ON");     // per connection: SQLite's default is off
    db->exec("PRAGMA synchronous = NORMAL");  // WAL + NORMAL: durable across process crashes
    // Temporary files stay in memory: the sub-journals of the savepoints of a group commit's
    // pieces spilled to one (its writes were a third of a failover round's pwrite calls), and
    // sorts and temporary tables need none either.
    db->exec("PRAGMA temp_store = MEMORY");
    // Replaces SQLite's autocheckpoint: checkpointLoop does it.
    sqlite3_wal_hook(db->getHandle(), &ConnectionPool::onWalCommit, this);
    return db;
  });
}

std::unique_ptr<Connection> ConnectionPool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto db = std::move(idle_.back());
      idle_.pop_back();
      return db;
    }
  }
  return open();
}

std::unique_ptr<Connection> ConnectionPool::acquireWriter() {
  return writer_ ? std::move(writer_) : open();
}

void ConnectionPool::releaseWriter(std::unique_ptr<Connection> db) {
  writer_ = std::move(db);
}

namespace {

// A PASSIVE checkpoint, like SQLite's own: copies what no reader still needs and never waits for
// anyone. Whether it copied the whole WAL (the WAL then starts over at the next write).
bool checkpointedAll(sqlite3* db, int* result = nullptr) {
  int frames = 0;
  int copied = 0;
  const int code =
      sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
  if (result) *result = code;
  return code == SQLITE_OK && frames == copied;
}

}  // namespace

int ConnectionPool::onWalCommit(void* pool, sqlite3* db, const char*, int pages) {
  auto* self = static_cast<ConnectionPool*>(pool);
  const auto commits = self->walCommits_.fetch_add(1, std::memory_order_relaxed) + 1;
  self->walFrames_ = pages;
  if (pages >= kCheckpointPagesInline) {
    // The checkpointer has fallen behind (a loaded machine starves its thread) or writes never
    // paused: this commit checkpoints itself, as SQLite's own autocheckpoint would, after the
    // checkpoint that runs, so the WAL stays bounded (unless a reader still needs its frames).
    std::lock_guard checkpoint(self->checkpointMutex_);
    if (checkpointedAll(db)) self->finishedCommits_ = commits;
  }
  // Smaller than at the last checkpoint: the WAL started over since.
  const int last = self->checkpointedFrames_.load(std::memory_order_relaxed);
  if (pages >= kCheckpointPages && (pages < last || pages - last >= kCheckpointGrowth)) {
    std::lock_guard lock(self->mutex_);
    self->wantCheckpoint_ = true;
    self->checkpointWanted_.notify_one();
  }
  return SQLITE_OK;
}

void ConnectionPool::checkpointLoop() {
  std::unique_ptr<Connection> db;
  std::unique_lock lock(mutex_);
  while (true) {
    checkpointWanted_.wait(lock, [&] { return stopping_ || wantCheckpoint_; });
    if (stopping_) return;
    wantCheckpoint_ = false;
    const int frames = walFrames_.load(std::memory_order_relaxed);
    lock.unlock();
    try {
      if (!db) db = open();
      // Writers go on meanwhile; what they add is left to finishCheckpoint.
      std::lock_guard checkpoint(checkpointMutex_);
      checkpointedAll(db->getHandle());
      checkpointedFrames_ = frames;
    } catch (const StoreError&) {
      // The next commit asks again; the WAL only grows meanwhile.
    }
    lock.lock();
  }
}

bool ConnectionPool::finishCheckpoint() {
  const auto commits = walCommits_.load(std::memory_order_relaxed);
  std::lock_guard writers(writerMutex_);
  std::lock_guard checkpoint(checkpointMutex_);
  int result = SQLITE_OK;
  try {
    auto db = acquireWriter();
    const bool all = checkpointedAll(db->getHandle(), &result);
    releaseWriter(std::move(db));
    if (!all && (result == SQLITE_OK || result == SQLITE_BUSY)) return false;
  } catch (const StoreError&) {
    // The writer's connection cannot open: its next write says why.
  }
  finishedCommits_ = commits;
  return true;
}

void ConnectionPool::release(std::unique_ptr<Connection> db) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdle) idle_.push_back(std::move(db));
}

void bindOptional(SQLite::Statement& statement, int index,
                  const std::optional<std::int64_t>& value) {
  if (value) {
    statement.bind(index, *value);
  } else {
    statement.bind(index);
  }
}

void bindOptional(SQLite::Statement& statement, int index,
                  const std::optional<std::uint64_t>& value) {
  bindOptional(
      statement, index,
      value ? std::optional<std::int64_t>(static_cast<std::int64_t>(*value)) : std::nullopt);
}

void bindText(SQLite::Statement& statement, int index, const std::string& value) {
  if (value.empty()) {
    statement.bind(index);
  } else {
    statement.bind(index, value);
  }
}

std::optional<std::int64_t> optionalInt64(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return column.getInt64();
}

std::optional<std::uint64_t> optionalUint64(const SQLite::Column& column) {
  if (column.isNull()) return std::nullopt;
  return static_cast<std::uint64_t>(column.getInt64());
}

std::string textOrEmpty(const SQLite::Column& column) {
  return column.isNull() ? "" : column.getString();
}

void bindAll(SQLite::Statement& statement, const std::vector<std::string>& values) {
  int index = 1;
  for (const auto& value : values) statement.bind(index++, value);
}

}  // namespace warmsite::store::sqlite
