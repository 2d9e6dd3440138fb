#pragma once
// Versioned schema migrations. The schema version lives in SQLite's user_version; each migration
// runs in its own write transaction, so two daemons starting at once cannot apply one twice.
// Migrations are append-only: a released migration is never edited, only followed by another.

#include <span>
#include <string_view>

namespace SQLite {
class Database;
}

namespace warmsite::store {

struct Migration {
  int version;
  std::string_view description;
  std::string_view sql;
};

std::span<const Migration> migrations();
int latestSchemaVersion();

// Brings `db` to `targetVersion` (default: the latest). Throws StoreError kSchema when the
// database is newer than this build.
void migrate(SQLite::Database& db, int targetVersion = latestSchemaVersion());

}  // namespace warmsite::store
