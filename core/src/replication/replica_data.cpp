#include "replication/replica_data.h"

#include <algorithm>
#include <fstream>

#include "replication/disk_image.h"

namespace warmsite::replication {

namespace {
// Beside the disks: the restore point the failback bitmaps count from.
constexpr const char* kFailbackBaseFile = "failback-base";

// Whether `directory` holds a disk file; an error other than its absence counts as yes.
bool mayHoldDiskFiles(const std::filesystem::path& directory) {
  std::error_code error;
  std::filesystem::directory_iterator entry(directory, error);
  for (; !error && entry != std::filesystem::directory_iterator(); entry.increment(error)) {
    if (entry->path().extension() == ".qcow2") return true;
  }
  return error && error != std::errc::no_such_file_or_directory;
}

}  // namespace

std::filesystem::path ReplicaDataStore::diskPath(const std::string& tenantId,
                                                 const std::string& replicaId,
                                                 const std::string& diskId) const {
  return root_ / tenantId / replicaId / (diskId + ".qcow2");
}

void ReplicaDataStore::removeReplica(const std::string& tenantId,
                                     const std::string& replicaId) const {
  std::error_code ignored;
  std::filesystem::remove_all(root_ / tenantId / replicaId, ignored);
}

std::vector<std::filesystem::path> ReplicaDataStore::diskFiles(const std::string& tenantId,
                                                               const std::string& replicaId) const {
  std::vector<std::filesystem::path> files;
  std::error_code missing;
  for (const auto& entry :
       std::filesystem::directory_iterator(root_ / tenantId / replicaId, missing)) {
    if (entry.path().extension() == ".qcow2") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::set<std::string> ReplicaDataStore::replicasWithData(
    const std::string& tenantId, const std::vector<std::string>& replicaIds) const {
  std::set<std::string> withData;
  std::error_code error;
  // A tenant that replicates nothing has no directory: one lookup for a whole plan. (A missing
  // path sets `error` too, to no_such_file_or_directory.)
  const auto tenant = std::filesystem::status(root_ / tenantId, error);
  if (tenant.type() == std::filesystem::file_type::not_found) return withData;
  for (const auto& replicaId : replicaIds) {
    if (mayHoldDiskFiles(root_ / tenantId / replicaId)) withData.insert(replicaId);
  }
  return withData;
}

void ReplicaDataStore::bootFrom(const std::string& tenantId, const std::string& replicaId,
                                const std::string& pointId) const {
  const auto files = diskFiles(tenantId, replicaId);
  if (files.empty()) throw ImageError("replica " + replicaId + " has no replicated data");
  for (const auto& file : files) {
    const auto info = inspectImage(file);
    if (!info.hasSnapshot(pointId)) {
      throw ImageError(file.filename().string() + " has no restore point " + pointId);
    }
    // qcow2 applies no snapshot while a bitmap is enabled: an old failback bitmap goes first.
    if (info.bitmap(std::string(kFailbackBitmap))) removeBitmap(file, std::string(kFailbackBitmap));
    revertToSnapshot(file, pointId);
    addBitmap(file, std::string(kFailbackBitmap));
  }
  std::ofstream(root_ / tenantId / replicaId / kFailbackBaseFile) << pointId << "\n";
}

std::vector<std::filesystem::path> ReplicaDataStore::copyForTest(
    const std::string& tenantId, const std::string& replicaId, const std::string& pointId,
    const std::string& sessionId) const {
  const auto files = diskFiles(tenantId, replicaId);
  if (files.empty()) throw ImageError("replica " + replicaId + " has no replicated data");
  const auto directory = root_ / "tests" / sessionId / replicaId;
  std::filesystem::create_directories(directory);
  std::vector<std::filesystem::path> copies;
  for (const auto& file : files) {
    if (!inspectImage(file).hasSnapshot(pointId)) {
      throw ImageError(file.filename().string() + " has no restore point " + pointId);
    }
    const auto copy = directory / file.filename();
    std::filesystem::remove(copy);  // a retried step starts over
    copySnapshot(file, pointId, copy);
    copies.push_back(copy);
  }
  return copies;
}

void ReplicaDataStore::removeTestCopies(const std::string& sessionId) const {
  std::error_code ignored;
  std::filesystem::remove_all(root_ / "tests" / sessionId, ignored);
}

std::string ReplicaDataStore::failbackBase(const std::string& tenantId,
                                           const std::string& replicaId) const {
  std::ifstream in(root_ / tenantId / replicaId / kFailbackBaseFile);
  std::string pointId;
  std::getline(in, pointId);
  return pointId;
}

void ReplicaDataStore::discardChangesSince(const std::string& tenantId,
                                           const std::string& replicaId,
                                           const std::string& pointId) const {
  for (const auto& file : diskFiles(tenantId, replicaId)) {
    const auto info = inspectImage(file);
    if (info.bitmap(std::string(kFailbackBitmap))) removeBitmap(file, std::string(kFailbackBitmap));
    if (info.hasSnapshot(pointId)) revertToSnapshot(file, pointId);
  }
  std::error_code missing;
  std::filesystem::remove(root_ / tenantId / replicaId / kFailbackBaseFile, missing);
}

void ReplicaDataStore::deleteRestorePoint(const std::string& tenantId, const std::string& replicaId,
                                          const std::string& pointId) const {
  for (const auto& file : diskFiles(tenantId, replicaId)) {
    if (inspectImage(file).hasSnapshot(pointId)) {
      deleteSnapshot(file, pointId);
    }
  }
}

}  // namespace warmsite::replication
