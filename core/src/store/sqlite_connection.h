#pragma once
// Pieces shared by the SQLite store's files: connections, the pool, and the translation of
// SQLite's exceptions into StoreErrors. Internal to store/.

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
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

class ConnectionPool {
 public:
  ConnectionPool(std::filesystem::path path, SqliteOptions options)
      : path_(std::move(path)), options_(std::move(options)) {}

  std::unique_ptr<SQLite::Database> acquire();
  void release(std::unique_ptr<SQLite::Database> db);
  const SqliteOptions& options() const noexcept { return options_; }

 private:
  static constexpr std::size_t kMaxIdle = 16;
  const std::filesystem::path path_;
  const SqliteOptions options_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<SQLite::Database>> idle_;
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
