#pragma once
// qcow2 images on either end of replication, through QEMU's own tools: qemu-img for metadata
// (bitmaps, internal snapshots) and a qemu-nbd child on a private unix socket for data, read or
// written with libnbd. QEMU's block layer keeps the dirty bitmaps that make incremental runs
// possible, so every write and read of an image goes through it.

#include <cstdint>
#include <filesystem>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "replication/wire.h"

struct nbd_handle;

namespace warmsite::replication {

class ImageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct BitmapInfo {
  std::string name;
  bool enabled = false;  // records writes ("auto")
  bool inUse = false;    // a writer died holding it: its content cannot be trusted
  std::uint64_t granularity = 0;
};

struct SnapshotInfo {
  std::string name;
  std::int64_t createdUnix = 0;
};

struct ImageInfo {
  std::string format;
  std::uint64_t virtualSize = 0;
  std::uint64_t allocatedBytes = 0;  // on the host's disk
  std::uint64_t clusterSize = 0;
  std::vector<BitmapInfo> bitmaps;
  std::vector<SnapshotInfo> snapshots;

  const BitmapInfo* bitmap(const std::string& name) const;
  bool hasSnapshot(const std::string& name) const;
};

// Reads metadata without taking the image's lock (a running writer keeps it).
ImageInfo inspectImage(const std::filesystem::path& path);
void createQcow2(const std::filesystem::path& path, std::uint64_t virtualSize,
                 std::uint64_t clusterSize = 64 * 1024);
// Grows or shrinks the active layer; internal snapshots keep their own size.
void resizeImage(const std::filesystem::path& path, std::uint64_t virtualSize);
void addBitmap(const std::filesystem::path& path, const std::string& name,
               std::uint64_t granularity = 64 * 1024);
void removeBitmap(const std::filesystem::path& path, const std::string& name);
void createSnapshot(const std::filesystem::path& path, const std::string& name);
void deleteSnapshot(const std::filesystem::path& path, const std::string& name);
void revertToSnapshot(const std::filesystem::path& path, const std::string& name);
// Copies internal snapshot `name` of `path` into a new standalone qcow2 at `target` (the source
// is only read; unallocated ranges stay unallocated).
void copySnapshot(const std::filesystem::path& path, const std::string& name,
                  const std::filesystem::path& target);

// A byte range of a disk and what the source says of it.
struct DiskRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  bool zero = false;  // reads as zeroes: sent without data
};

// The extent that carries `range` of disk number `disk`: its bytes in `data`, none for zeroes.
Extent extentOf(std::uint16_t disk, const DiskRange& range, std::string&& data);

// The glibc allocator settings qemu-nbd runs with ("GLIBC_TUNABLES=..."). With its defaults, each
// 1 MiB request buffer is a fresh mmap that the kernel faults in and zeroes page by page and then
// unmaps: the largest single cost of a run's qemu-nbd processes.
std::string qemuNbdAllocatorSettings();

// One disk read or written through a connected libnbd handle: an image served by a qemu-nbd child
// on a private unix socket (qemu-nbd leaves when the handle disconnects; the destructor kills it
// if it has not), or an export another process serves.
class NbdExport {
 public:
  struct Options {
    bool writable = false;
    std::string dirtyBitmap;  // export this bitmap as qemu:dirty-bitmap:<name>
    std::string snapshot;  // serve this internal snapshot (read-only) instead of the active layer
  };
  NbdExport(const std::filesystem::path& image, const Options& options);
  // An export QEMU serves, e.g. a running domain's disk during a libvirt pull-mode backup.
  struct Served {
    std::filesystem::path socket;
    std::string exportName;
    std::string dirtyBitmapContext;  // "" for none
    std::string description;         // names the disk in errors
  };
  explicit NbdExport(const Served& served);
  ~NbdExport();
  NbdExport(const NbdExport&) = delete;
  NbdExport& operator=(const NbdExport&) = delete;

  nbd_handle* handle() const noexcept { return handle_; }
  std::uint64_t size() const noexcept { return size_; }

  // The ranges to send: every range for a full run (zeroes marked), or for an incremental one
  // only the ranges set in the dirty bitmap and those in `alsoChanged` (changes known elsewhere,
  // e.g. on the other side of a failback). Adjacent ranges of the same kind are merged and none
  // is longer than `maxLength`.
  std::vector<DiskRange> rangesToSend(bool incremental, std::uint32_t maxLength,
                                      const std::vector<DiskRange>& alsoChanged = {});

  // Reads the ranges with up to `inFlight` pipelined requests and hands each one over in order.
  void readRanges(const std::vector<DiskRange>& ranges, std::size_t inFlight,
                  const std::function<void(const DiskRange&, std::string&& data)>& consume);

  // Flushes and disconnects cleanly, then waits for qemu-nbd to close the image.
  void close();

 private:
  bool tryConnect(const std::filesystem::path& socket, const std::string& exportName,
                  std::string& error);
  void readSizeAndCheckBitmap();

  std::filesystem::path image_;
  std::filesystem::path socketDir_;
  int pid_ = -1;
  nbd_handle* handle_ = nullptr;
  std::uint64_t size_ = 0;
  std::string bitmapContext_;
};

}  // namespace warmsite::replication
