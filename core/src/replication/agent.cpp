#include "replication/agent.h"

#include <libnbd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "domain/ids.h"
#include "replication/disk_image.h"
#include "replication/pipeline_stage.h"
#include "replication/throttle.h"

namespace warmsite::replication {

namespace {

// What the last confirmed run left: its restore point and, per disk, the bitmap that has recorded
// every write since.
struct AgentState {
  std::string restorePointId;
  struct Disk {
    std::string bitmap;
    std::uint64_t sizeBytes = 0;
  };
  std::map<std::string, Disk> disks;
};

std::filesystem::path statePath(const AgentOptions& options) {
  return options.stateDir / (options.replicaId + ".json");
}

std::optional<AgentState> loadState(const AgentOptions& options) {
  std::ifstream in(statePath(options));
  if (!in) return std::nullopt;
  const auto json = nlohmann::json::parse(in, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  AgentState state;
  state.restorePointId = json.value("restorePointId", "");
  const auto disks = json.value("disks", nlohmann::json::object());
  for (const auto& [diskId, disk] : disks.items()) {
    state.disks[diskId] = {disk.value("bitmap", ""), disk.value("sizeBytes", std::uint64_t{0})};
  }
  return state;
}

void saveState(const AgentOptions& options, const AgentState& state) {
  nlohmann::json json{{"restorePointId", state.restorePointId},
                      {"disks", nlohmann::json::object()}};
  for (const auto& [diskId, disk] : state.disks) {
    json["disks"][diskId] = {{"bitmap", disk.bitmap}, {"sizeBytes", disk.sizeBytes}};
  }
  std::filesystem::create_directories(options.stateDir);
  const auto path = statePath(options);
  const auto temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << json.dump(2) << '\n';
    out.flush();
    if (!out) throw ImageError("cannot write agent state " + temporary);
  }
  std::filesystem::rename(temporary, path);
}

// Why this run must be full, or "" when an incremental run can build on the last one.
std::string fullRunReason(const AgentOptions& options, const std::optional<AgentState>& state,
                          const ChangeSource& source) {
  if (options.forceFull) return "a full run was requested";
  if (!state || state->restorePointId.empty()) return "first run (seeding)";
  for (std::size_t i = 0; i < options.disks.size(); ++i) {
    const auto& disk = options.disks[i];
    auto known = state->disks.find(disk.diskId);
    if (known == state->disks.end()) return "disk " + disk.diskId + " was never replicated";
    if (auto problem = source.baseProblem(i, known->second.bitmap); !problem.empty()) {
      return problem + " (disk " + disk.diskId + ")";
    }
    if (source.diskSize(i) != known->second.sizeBytes) {
      return "disk " + disk.diskId + " was resized from " +
             std::to_string(known->second.sizeBytes) + " to " + std::to_string(source.diskSize(i)) +
             " bytes";
    }
  }
  return "";
}

void tell(const AgentLog& log, const std::string& line) {
  if (log) log(line);
}

// A connection to the SP's replication port, authenticated as the tenant.
std::unique_ptr<FrameStream> openSession(const AgentOptions& options) {
  auto stream = FrameStream::connect(options.connect);
  stream->sendJson(FrameType::kHello, {{"version", kProtocolVersion}, {"token", options.token}});
  stream->expect(FrameType::kWelcome);
  return stream;
}

struct DiskPlan {
  std::unique_ptr<NbdExport> data;
  std::vector<DiskRange> ranges;
};

}  // namespace

AgentRunResult replicate(const AgentOptions& options, const AgentLog& log) {
  std::vector<std::filesystem::path> images;
  for (const auto& disk : options.disks) images.push_back(disk.image);
  if (images.empty()) throw ImageError("no disk to replicate");
  const auto source = imageFileSource(images);
  return replicate(options, *source, log);
}

AgentRunResult replicate(const AgentOptions& options, ChangeSource& source, const AgentLog& log) {
  const auto say = [&](const std::string& line) { tell(log, line); };
  if (options.disks.empty()) throw ImageError("no disk to replicate");
  const auto started = std::chrono::steady_clock::now();
  AgentRunResult result;
  result.runId = domain::newId("run");

  const auto state = loadState(options);
  result.reason = fullRunReason(options, state, source);
  bool incremental = result.reason.empty();
  // The tracker of this run's changes: the next run's base once the SP confirms this one.
  const std::string tracker = std::string(kTrackerPrefix) + result.runId;
  const auto baseTracker = [&] {
    return incremental ? state->disks.at(options.disks.front().diskId).bitmap : std::string();
  };

  BandwidthThrottle throttle(options.bandwidthBytesPerSecond);
  std::vector<DiskPlan> plans;
  const auto planRun = [&] {
    plans.clear();
    result.changedBytes = result.zeroBytes = result.extents = 0;
    std::vector<std::unique_ptr<NbdExport>> exports;
    try {
      exports = source.open(tracker, baseTracker());
    } catch (const BaseUnusable& e) {
      incremental = false;
      result.reason = e.what();
      exports = source.open(tracker, "");
    }
    for (auto& data : exports) {
      DiskPlan plan;
      plan.data = std::move(data);
      plan.ranges = plan.data->rangesToSend(incremental, options.extentSize);
      for (const auto& range : plan.ranges) {
        (range.zero ? result.zeroBytes : result.changedBytes) += range.length;
        ++result.extents;
      }
      plans.push_back(std::move(plan));
    }
    result.kind = incremental ? "incremental" : "full";
    say(result.kind + " run " + result.runId + (incremental ? "" : " (" + result.reason + ")") +
        ": " + std::to_string(result.changedBytes) + " changed bytes, " +
        std::to_string(result.zeroBytes) + " zero bytes in " + std::to_string(result.extents) +
        " extents");
  };

  nlohmann::json committed;
  try {
    planRun();
    int attempt = 0;
    while (true) {
      std::unique_ptr<FrameStream> stream;
      try {
        stream = openSession(options);
        nlohmann::json begin{{"runId", result.runId},
                             {"replicaId", options.replicaId},
                             {"jobId", options.jobId},
                             {"kind", result.kind},
                             {"reason", result.reason},
                             {"baseRestorePointId", incremental ? state->restorePointId : ""},
                             {"disks", nlohmann::json::array()}};
        for (std::size_t i = 0; i < options.disks.size(); ++i) {
          begin["disks"].push_back(
              {{"diskId", options.disks[i].diskId}, {"sizeBytes", plans[i].data->size()}});
        }
        stream->sendJson(FrameType::kRunBegin, begin);
        nlohmann::json accepted;
        try {
          const auto reply = stream->receive();
          if (reply.type == FrameType::kCommitted) {  // it landed before the connection dropped
            committed = reply.json();
            result.wireBytes += stream->bytesSent();
            break;
          }
          if (reply.type != FrameType::kRunAccepted) {
            throw ProtocolError(
                "unexpected_frame",
                std::string("expected RUN_ACCEPTED, received ") + frameTypeName(reply.type));
          }
          accepted = reply.json();
        } catch (const ProtocolError& e) {
          if (e.code() != "base_mismatch" || !incremental) throw;
          // The SP no longer has what this run builds on: seed again.
          incremental = false;
          result.reason = std::string("the SP cannot apply an incremental run: ") + e.what();
          planRun();
          continue;
        }
        const auto resumeDisk = accepted.value("resumeDisk", std::size_t{0});
        const auto resumeOffset = accepted.value("resumeOffset", std::uint64_t{0});
        if (resumeDisk > 0 || resumeOffset > 0) {
          say("resuming at disk " + std::to_string(resumeDisk) + " offset " +
              std::to_string(resumeOffset));
        }
        // Sending (encrypting, writing) on its own thread overlaps reading and packing.
        PipelineStage sender({.process =
                                  [&](std::string&& body) {
                                    throttle.take(body.size() + kFrameHeaderSize);
                                    stream->send(FrameType::kExtent, body);
                                  },
                              .abandoned = [&] { stream->abort(); }});
        for (std::size_t i = resumeDisk; i < plans.size(); ++i) {
          std::vector<DiskRange> remaining;
          for (const auto& range : plans[i].ranges) {
            if (i > resumeDisk || range.offset >= resumeOffset) remaining.push_back(range);
          }
          plans[i].data->readRanges(
              remaining, options.readsInFlight, [&](const DiskRange& range, std::string&& data) {
                sender.push(
                    packExtent(extentOf(static_cast<std::uint16_t>(i), range, std::move(data)),
                               options.compressionLevel)
                        .body);
              });
        }
        sender.finish();
        say("all extents sent; waiting for the SP to commit the restore point");
        stream->sendJson(FrameType::kRunCommit, {{"extents", result.extents},
                                                 {"changedBytes", result.changedBytes},
                                                 {"zeroBytes", result.zeroBytes}});
        committed = stream->expect(FrameType::kCommitted).json();
        result.wireBytes += stream->bytesSent();
        break;
      } catch (const TransportError& e) {
        if (stream) result.wireBytes += stream->bytesSent();
        if (++attempt > options.maxReconnects) throw;
        ++result.reconnects;
        const auto backoff = std::chrono::milliseconds(250 << std::min(attempt, 5));
        say(std::string("connection lost (") + e.what() + "); resuming in " +
            std::to_string(backoff.count()) + " ms");
        std::this_thread::sleep_for(backoff);
      }
    }
  } catch (const std::exception& e) {
    say(std::string("run ") + result.runId + " failed: " + e.what());
    plans.clear();  // the exports let go of the disks
    try {
      source.finish(false, tracker);
    } catch (const std::exception& cleanup) {
      say(std::string("could not drop this run's change tracker: ") + cleanup.what());
    }
    throw;
  }
  plans.clear();

  // The SP has the restore point: this run's tracker becomes the base, older ones go.
  AgentState next;
  next.restorePointId = committed.value("restorePointId", "");
  for (std::size_t i = 0; i < options.disks.size(); ++i) {
    next.disks[options.disks[i].diskId] = {tracker, source.diskSize(i)};
  }
  saveState(options, next);
  try {
    source.finish(true, tracker);
  } catch (const std::exception& e) {  // the next run drops them
    say(std::string("could not drop older change trackers: ") + e.what());
  }
  result.restorePointId = next.restorePointId;
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  say("restore point " + result.restorePointId + " committed: " + std::to_string(result.wireBytes) +
      " bytes on the wire in " + std::to_string(result.seconds) + " s");
  return result;
}

FailbackResult failBack(const AgentOptions& options, const AgentLog& log) {
  const auto say = [&](const std::string& line) { tell(log, line); };
  if (options.disks.empty()) throw ImageError("no disk to fail back");
  const auto started = std::chrono::steady_clock::now();
  const auto state = loadState(options);

  // What the tenant changed since its last confirmed restore point, from the base bitmaps.
  std::string basePointId = state ? state->restorePointId : "";
  nlohmann::json disks = nlohmann::json::array();
  for (const auto& disk : options.disks) {
    const auto info = inspectImage(disk.image);
    nlohmann::json entry{{"diskId", disk.diskId}, {"sizeBytes", info.virtualSize}};
    const BitmapInfo* bitmap = nullptr;
    if (state) {
      if (auto known = state->disks.find(disk.diskId); known != state->disks.end()) {
        bitmap = info.bitmap(known->second.bitmap);
      }
    }
    if (bitmap == nullptr || bitmap->inUse) {
      basePointId.clear();  // the changes are unknown: the SP sends everything
    } else {
      NbdExport source(disk.image,
                       {.writable = false, .dirtyBitmap = bitmap->name, .snapshot = {}});
      auto changes = nlohmann::json::array();
      for (const auto& range : source.rangesToSend(true, kMaxZeroExtentLength))
        changes.push_back({range.offset, range.length});
      entry["tenantChanges"] = std::move(changes);
    }
    disks.push_back(std::move(entry));
  }

  auto stream = openSession(options);
  stream->sendJson(
      FrameType::kFailbackBegin,
      {{"replicaId", options.replicaId}, {"basePointId", basePointId}, {"disks", disks}});
  const auto plan = stream->expect(FrameType::kFailbackPlan).json();
  FailbackResult result;
  result.kind = plan.value("kind", "full");
  result.reason = plan.value("reason", "");
  say("failback of " + options.replicaId + ": " + result.kind +
      (result.reason.empty() ? "" : " (" + result.reason + ")"));

  std::vector<std::unique_ptr<NbdExport>> targets;
  for (const auto& disk : options.disks) {
    targets.push_back(std::make_unique<NbdExport>(
        disk.image, NbdExport::Options{.writable = true, .dirtyBitmap = {}, .snapshot = {}}));
  }
  while (true) {
    auto frame = stream->receive();
    if (frame.type == FrameType::kFailbackDone) {
      const auto totals = frame.json();
      if (totals.value("extents", std::uint64_t{0}) != result.extents ||
          totals.value("changedBytes", std::uint64_t{0}) != result.changedBytes) {
        throw ProtocolError("incomplete_run", "the SP sent " + totals.dump() +
                                                  ", the agent wrote " +
                                                  std::to_string(result.extents) + " extents");
      }
      break;
    }
    if (frame.type != FrameType::kExtent) {
      throw ProtocolError(
          "unexpected_frame",
          std::string("expected EXTENT or FAILBACK_DONE, received ") + frameTypeName(frame.type));
    }
    const auto extent = unpackExtent(std::move(frame.body));
    if (extent.disk >= targets.size() ||
        extent.offset + extent.length > targets[extent.disk]->size()) {
      throw ProtocolError("bad_frame", "an extent outside the tenant's disks");
    }
    nbd_handle* handle = targets[extent.disk]->handle();
    const int written =
        extent.kind == ExtentKind::kZero
            ? nbd_zero(handle, extent.length, extent.offset, 0)
            : nbd_pwrite(handle, extent.data.data(), extent.data.size(), extent.offset, 0);
    if (written != 0) {
      throw ImageError("writing " + options.disks[extent.disk].image.string() +
                       " failed: " + nbd_get_error());
    }
    (extent.kind == ExtentKind::kZero ? result.zeroBytes : result.changedBytes) += extent.length;
    ++result.extents;
  }
  for (auto& target : targets) target->close();  // flushed before the SP hears it landed
  stream->sendJson(FrameType::kFailbackDone, nlohmann::json::object());
  result.wireBytes = stream->bytesReceived();
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  say("failback wrote " + std::to_string(result.changedBytes) + " changed bytes and " +
      std::to_string(result.zeroBytes) + " zero bytes in " + std::to_string(result.seconds) + " s");
  return result;
}

}  // namespace warmsite::replication
