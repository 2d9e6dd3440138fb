#include "replication/disk_image.h"

#include <fcntl.h>
#include <libnbd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "engine/script_runner.h"
#include "replication/wire.h"

extern char** environ;

namespace warmsite::replication {

namespace {

constexpr std::chrono::seconds kToolTimeout{120};
constexpr std::uint32_t kNbdStateZero = 2;
constexpr std::uint32_t kNbdStateDirty = 1;

std::string runTool(const std::vector<std::string>& arguments) {
  const auto result = engine::runCommand(arguments, {}, kToolTimeout);
  if (!result.succeeded) {
    std::string command;
    for (const auto& argument : arguments) command += (command.empty() ? "" : " ") + argument;
    std::string output = result.output;
    while (!output.empty() && output.back() == '\n') output.pop_back();
    throw ImageError(command + " failed: " + (output.empty() ? "no output" : output));
  }
  return result.output;
}

bool supportsDirectIo(const std::filesystem::path& image) {
  const int fd = ::open(image.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) return false;  // e.g. tmpfs: EINVAL
  ::close(fd);
  return true;
}

std::string nbdError() {
  const char* message = nbd_get_error();
  return message ? message : "unknown libnbd error";
}

// One block-status map of a disk, as contiguous segments from 0 to its end.
struct Segment {
  std::uint64_t offset, length;
  std::uint32_t flags;
};

struct StatusMaps {
  std::string dirtyContext;
  std::vector<Segment> allocation, dirty;
  std::uint64_t allocationEnd = 0, dirtyEnd = 0;
};

void appendSegments(std::vector<Segment>& segments, std::uint64_t& coveredEnd, std::uint64_t offset,
                    const std::uint32_t* entries, std::size_t count) {
  for (std::size_t i = 0; i + 1 < count; i += 2) {
    std::uint64_t start = offset;
    const std::uint64_t end = offset + entries[i];
    offset = end;
    if (end <= coveredEnd) continue;
    start = std::max(start, coveredEnd);
    segments.push_back({start, end - start, entries[i + 1]});
    coveredEnd = end;
  }
}

int collectStatus(void* user, const char* context, std::uint64_t offset, std::uint32_t* entries,
                  std::size_t count, int*) {
  auto& maps = *static_cast<StatusMaps*>(user);
  if (std::string_view(context) == LIBNBD_CONTEXT_BASE_ALLOCATION) {
    appendSegments(maps.allocation, maps.allocationEnd, offset, entries, count);
  } else if (context == maps.dirtyContext) {
    appendSegments(maps.dirty, maps.dirtyEnd, offset, entries, count);
  }
  return 0;
}

// Appends a range, merging it into the previous one when they touch and have the same kind.
void pushRange(std::vector<DiskRange>& ranges, std::uint64_t offset, std::uint64_t length,
               bool zero) {
  if (length == 0) return;
  if (!ranges.empty() && ranges.back().zero == zero &&
      ranges.back().offset + ranges.back().length == offset) {
    ranges.back().length += length;
  } else {
    ranges.push_back({offset, length, zero});
  }
}

}  // namespace

const BitmapInfo* ImageInfo::bitmap(const std::string& name) const {
  for (const auto& entry : bitmaps)
    if (entry.name == name) return &entry;
  return nullptr;
}

bool ImageInfo::hasSnapshot(const std::string& name) const {
  return std::any_of(snapshots.begin(), snapshots.end(),
                     [&](const SnapshotInfo& snapshot) { return snapshot.name == name; });
}

ImageInfo inspectImage(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path))
    throw ImageError("image " + path.string() + " does not exist");
  const auto output = runTool({"qemu-img", "info", "--force-share", "--output=json", path});
  // Warnings (e.g. about inconsistent bitmaps) share the output: the JSON object is the part from
  // a line "{" to a line "}".
  const auto start = output.starts_with("{\n") ? 0 : output.find("\n{\n");
  const auto end = output.rfind("\n}");
  const auto json =
      start == std::string::npos || end == std::string::npos || end < start
          ? nlohmann::json(nlohmann::json::value_t::discarded)
          : nlohmann::json::parse(output.substr(start, end + 2 - start), nullptr, false);
  if (json.is_discarded()) {
    throw ImageError("qemu-img info printed no JSON for " + path.string() + ": " +
                     output.substr(0, 300));
  }
  ImageInfo info;
  info.format = json.value("format", "");
  info.virtualSize = json.value("virtual-size", std::uint64_t{0});
  info.allocatedBytes = json.value("actual-size", std::uint64_t{0});
  info.clusterSize = json.value("cluster-size", std::uint64_t{0});
  const auto specific = json.value("format-specific", nlohmann::json::object());
  for (const auto& bitmap :
       specific.value("data", nlohmann::json::object()).value("bitmaps", nlohmann::json::array())) {
    BitmapInfo entry;
    entry.name = bitmap.value("name", "");
    entry.granularity = bitmap.value("granularity", std::uint64_t{0});
    for (const auto& flag : bitmap.value("flags", nlohmann::json::array())) {
      if (flag == "auto") entry.enabled = true;
      if (flag == "in-use") entry.inUse = true;
    }
    info.bitmaps.push_back(std::move(entry));
  }
  for (const auto& snapshot : json.value("snapshots", nlohmann::json::array())) {
    info.snapshots.push_back(
        {snapshot.value("name", ""), snapshot.value("date-sec", std::int64_t{0})});
  }
  return info;
}

void createQcow2(const std::filesystem::path& path, std::uint64_t virtualSize,
                 std::uint64_t clusterSize) {
  runTool({"qemu-img", "create", "-q", "-f", "qcow2", "-o",
           "cluster_size=" + std::to_string(clusterSize), path, std::to_string(virtualSize)});
}

void resizeImage(const std::filesystem::path& path, std::uint64_t virtualSize) {
  runTool(
      {"qemu-img", "resize", "-q", "--shrink", "-f", "qcow2", path, std::to_string(virtualSize)});
}

void addBitmap(const std::filesystem::path& path, const std::string& name,
               std::uint64_t granularity) {
  runTool({"qemu-img", "bitmap", "--add", "-g", std::to_string(granularity), path, name});
}

void removeBitmap(const std::filesystem::path& path, const std::string& name) {
  runTool({"qemu-img", "bitmap", "--remove", path, name});
}

void createSnapshot(const std::filesystem::path& path, const std::string& name) {
  runTool({"qemu-img", "snapshot", "-c", name, path});
}

void deleteSnapshot(const std::filesystem::path& path, const std::string& name) {
  runTool({"qemu-img", "snapshot", "-d", name, path});
}

void revertToSnapshot(const std::filesystem::path& path, const std::string& name) {
  runTool({"qemu-img", "snapshot", "-a", name, path});
}

void copySnapshot(const std::filesystem::path& path, const std::string& name,
                  const std::filesystem::path& target) {
  runTool({"qemu-img", "convert", "-U", "-f", "qcow2", "-O", "qcow2", "-l", "snapshot.name=" + name,
           path, target});
}

Extent extentOf(std::uint16_t disk, const DiskRange& range, std::string&& data) {
  Extent extent;
  extent.disk = disk;
  extent.offset = range.offset;
  extent.length = static_cast<std::uint32_t>(range.length);
  extent.kind = range.zero ? ExtentKind::kZero : ExtentKind::kData;
  extent.data = std::move(data);
  return extent;
}

std::string qemuNbdAllocatorSettings() {
  // Requests up to 8 MiB come from the heap, and up to 64 MiB of freed heap stays mapped.
  return "GLIBC_TUNABLES=glibc.malloc.mmap_threshold=8388608:glibc.malloc.trim_threshold=67108864";
}

NbdExport::NbdExport(const std::filesystem::path& image, const Options& options) : image_(image) {
  std::string pattern = (std::filesystem::temp_directory_path() / "warmsite-nbd-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw ImageError("cannot create a socket directory");
  socketDir_ = pattern;
  const auto socket = (socketDir_ / "nbd.sock").string();
  const auto log = (socketDir_ / "qemu-nbd.log").string();

  std::vector<std::string> arguments = {"qemu-nbd", "-f", "qcow2", "-k", socket};
  if (!options.writable) arguments.push_back("--read-only");
  if (!options.dirtyBitmap.empty()) arguments.insert(arguments.end(), {"-B", options.dirtyBitmap});
  if (!options.snapshot.empty()) {
    arguments.push_back("--load-snapshot=snapshot.name=" + options.snapshot);
  }
  if (options.writable) {
    arguments.push_back("--discard=unmap");
    // Replica and failback data bypass the host's page cache (it would copy every byte once more
    // and evict what other tenants' runs need) where the file system allows direct I/O.
    if (supportsDirectIo(image)) {
      arguments.insert(arguments.end(), {"--cache=none", "--aio=native"});
    } else {
      arguments.push_back("--cache=writeback");
    }
  }
  arguments.push_back(image.string());
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = 0;
  std::vector<std::string> environment = {qemuNbdAllocatorSettings()};
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!std::string_view(*entry).starts_with("GLIBC_TUNABLES=")) environment.emplace_back(*entry);
  }
  std::vector<char*> envp;
  for (auto& entry : environment) envp.push_back(entry.data());
  envp.push_back(nullptr);
  const int spawned = posix_spawnp(&pid, "qemu-nbd", &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    std::filesystem::remove_all(socketDir_);
    throw ImageError(std::string("cannot start qemu-nbd: ") + std::strerror(spawned));
  }
  pid_ = pid;

  if (!options.dirtyBitmap.empty()) bitmapContext_ = "qemu:dirty-bitmap:" + options.dirtyBitmap;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  std::string lastError;
  while (handle_ == nullptr) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      std::ifstream in(log);
      std::stringstream text;
      text << in.rdbuf();
      std::string message = text.str();
      while (!message.empty() && message.back() == '\n') message.pop_back();
      std::filesystem::remove_all(socketDir_);
      throw ImageError("qemu-nbd cannot serve " + image.string() + ": " + message);
    }
    if (std::filesystem::exists(socket) && tryConnect(socket, "", lastError)) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      std::filesystem::remove_all(socketDir_);
      throw ImageError("qemu-nbd did not accept a connection for " + image.string() + ": " +
                       lastError);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  readSizeAndCheckBitmap();
}

NbdExport::NbdExport(const Served& served)
    : image_(served.description), bitmapContext_(served.dirtyBitmapContext) {
  std::string error;
  if (!tryConnect(served.socket, served.exportName, error)) {
    throw ImageError("cannot connect to " + served.description + ": " + error);
  }
  readSizeAndCheckBitmap();
}

bool NbdExport::tryConnect(const std::filesystem::path& socket, const std::string& exportName,
                           std::string& error) {
  nbd_handle* candidate = nbd_create();
  nbd_add_meta_context(candidate, LIBNBD_CONTEXT_BASE_ALLOCATION);
  if (!bitmapContext_.empty()) nbd_add_meta_context(candidate, bitmapContext_.c_str());
  if (!exportName.empty()) nbd_set_export_name(candidate, exportName.c_str());
  if (nbd_connect_unix(candidate, socket.c_str()) == 0) {
    handle_ = candidate;
    return true;
  }
  error = nbdError();
  nbd_close(candidate);
  return false;
}

void NbdExport::readSizeAndCheckBitmap() {
  const std::int64_t size = nbd_get_size(handle_);
  if (size < 0) throw ImageError("cannot read the size of " + image_.string() + ": " + nbdError());
  size_ = static_cast<std::uint64_t>(size);
  if (!bitmapContext_.empty() && nbd_can_meta_context(handle_, bitmapContext_.c_str()) != 1) {
    throw ImageError("the NBD server does not offer " + bitmapContext_ + " for " + image_.string());
  }
}

NbdExport::~NbdExport() {
  if (handle_ != nullptr) nbd_close(handle_);
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::error_code ignored;
  std::filesystem::remove_all(socketDir_, ignored);
}

std::vector<DiskRange> NbdExport::rangesToSend(bool incremental, std::uint32_t maxLength,
                                               const std::vector<DiskRange>& alsoChanged) {
  StatusMaps maps;
  maps.dirtyContext = bitmapContext_;
  const bool wantDirty = incremental && !bitmapContext_.empty();
  if (incremental && bitmapContext_.empty() && alsoChanged.empty()) {
    throw ImageError("an incremental run needs the export of a dirty bitmap");
  }
  while (maps.allocationEnd < size_ || (wantDirty && maps.dirtyEnd < size_)) {
    const std::uint64_t offset =
        wantDirty ? std::min(maps.allocationEnd, maps.dirtyEnd) : maps.allocationEnd;
    const std::uint64_t count = std::min<std::uint64_t>(size_ - offset, 1ull << 30);
    const auto before = std::make_pair(maps.allocationEnd, maps.dirtyEnd);
    if (nbd_block_status(
            handle_, count, offset,
            nbd_extent_callback{.callback = collectStatus, .user_data = &maps, .free = nullptr},
            0) != 0) {
      throw ImageError("block status of " + image_.string() + " failed: " + nbdError());
    }
    if (before == std::make_pair(maps.allocationEnd, maps.dirtyEnd)) {
      throw ImageError("the NBD server reported no block status at offset " +
                       std::to_string(offset));
    }
  }

  std::vector<DiskRange> merged;
  if (!incremental) {
    for (const auto& segment : maps.allocation)
      pushRange(merged, segment.offset, segment.length, (segment.flags & kNbdStateZero) != 0);
  } else {
    // Changed ranges (the bitmap's and the others, merged), each split where the allocation map
    // changes between data and zeroes.
    std::vector<std::pair<std::uint64_t, std::uint64_t>> changed;  // [start, end)
    for (const auto& dirty : maps.dirty)
      if (dirty.flags & kNbdStateDirty)
        changed.emplace_back(dirty.offset, dirty.offset + dirty.length);
    for (const auto& range : alsoChanged) {
      const auto end = std::min(range.offset + range.length, size_);
      if (range.offset < end) changed.emplace_back(range.offset, end);
    }
    std::sort(changed.begin(), changed.end());
    std::size_t a = 0;
    std::uint64_t position = 0;
    for (const auto& [start, end] : changed) {
      position = std::max(position, start);
      while (position < end) {
        while (maps.allocation[a].offset + maps.allocation[a].length <= position) ++a;
        const auto& allocation = maps.allocation[a];
        const std::uint64_t stop = std::min(end, allocation.offset + allocation.length);
        pushRange(merged, position, stop - position, (allocation.flags & kNbdStateZero) != 0);
        position = stop;
      }
    }
  }

  std::vector<DiskRange> ranges;
  for (const auto& range : merged) {
    const std::uint64_t step = range.zero ? kMaxZeroExtentLength : maxLength;
    for (std::uint64_t at = 0; at < range.length; at += step) {
      ranges.push_back(
          {range.offset + at, std::min<std::uint64_t>(step, range.length - at), range.zero});
    }
  }
  return ranges;
}

void NbdExport::readRanges(const std::vector<DiskRange>& ranges, std::size_t inFlight,
                           const std::function<void(const DiskRange&, std::string&&)>& consume) {
  struct Pending {
    const DiskRange* range;
    std::string data;
    std::int64_t cookie = 0;
  };
  std::deque<Pending> pending;
  // libnbd writes into a request's buffer whenever its reply arrives: if `consume` throws, the
  // buffers must outlive every request still in flight.
  struct Drain {
    nbd_handle* handle;
    ~Drain() {
      while (nbd_aio_in_flight(handle) > 0) {
        if (nbd_poll(handle, -1) < 0) break;
      }
    }
  } drain{handle_};
  std::size_t next = 0;
  while (next < ranges.size() || !pending.empty()) {
    while (next < ranges.size() && pending.size() < inFlight) {
      Pending request{&ranges[next++], {}, 0};
      if (!request.range->zero) {
        request.data.resize(request.range->length);
        request.cookie = nbd_aio_pread(handle_, request.data.data(), request.data.size(),
                                       request.range->offset, NBD_NULL_COMPLETION, 0);
        if (request.cookie < 0) {
          throw ImageError("reading " + image_.string() + " failed: " + nbdError());
        }
      }
      pending.push_back(std::move(request));
    }
    Pending& head = pending.front();
    if (head.cookie > 0) {
      int done = 0;
      while ((done = nbd_aio_command_completed(handle_, head.cookie)) == 0) {
        if (nbd_poll(handle_, -1) < 0) break;
      }
      if (done != 1) {
        throw ImageError("reading " + image_.string() + " at offset " +
                         std::to_string(head.range->offset) + " failed: " + nbdError());
      }
    }
    consume(*head.range, std::move(head.data));
    pending.pop_front();
  }
}

void NbdExport::close() {
  if (handle_ == nullptr) return;
  const bool readOnly = nbd_is_read_only(handle_) == 1;
  if (!readOnly && nbd_flush(handle_, 0) != 0) {
    throw ImageError("flushing " + image_.string() + " failed: " + nbdError());
  }
  nbd_shutdown(handle_, 0);
  nbd_close(handle_);
  handle_ = nullptr;
  // qemu-nbd closes the image and leaves once its only client is gone.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (pid_ > 0) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
      throw ImageError("qemu-nbd did not close " + image_.string() + " within 30 s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace warmsite::replication
