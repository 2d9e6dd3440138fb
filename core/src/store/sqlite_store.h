#pragma once
// The embedded store: one SQLite file in WAL mode, foreign keys on, a busy timeout, and
// BEGIN IMMEDIATE for every write transaction (a deferred transaction that upgrades to a write lock
// fails at once under WAL, whatever the busy timeout; see docs/architecture.md).

#include <chrono>
#include <filesystem>
#include <memory>

#include "store/secret_cipher.h"
#include "store/store.h"

namespace warmsite::store {

struct SqliteOptions {
  std::chrono::milliseconds busyTimeout{30000};  // a writer waits this long for the lock
  bool integrityCheckAtOpen = true;            // PRAGMA quick_check: refuse a damaged file at start
  std::shared_ptr<const SecretCipher> cipher;  // null: cloud host configs stored as plaintext
};

// Opens (creating when missing) and migrates the database at `path`. Throws StoreError with the
// path and the cause: kCorrupt (not a database, damaged), kIo (cannot open), kSchema (too new).
std::unique_ptr<Store> openSqliteStore(const std::filesystem::path& path,
                                       const SqliteOptions& options = {});

}  // namespace warmsite::store
