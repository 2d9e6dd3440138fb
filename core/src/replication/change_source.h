#pragma once
// Where a replication run reads the tenant's disks, and what records their changes between runs.
// A change tracker is named after the run that started it; the agent's state names the one the
// last confirmed run left (the base). Two sources: qcow2 image files nothing else writes (a
// persistent dirty bitmap per image) and a running libvirt domain (checkpoints and pull-mode
// backups, in running_domain_source.h).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "replication/disk_image.h"

namespace warmsite::replication {

// The base tracker cannot give this run its changes after all (found only once the run starts).
class BaseUnusable : public ImageError {
 public:
  using ImageError::ImageError;
};

class ChangeSource {
 public:
  virtual ~ChangeSource() = default;

  virtual std::uint64_t diskSize(std::size_t disk) const = 0;
  // Why disk `disk` cannot be read as its changes since tracker `base`; "" when it can.
  virtual std::string baseProblem(std::size_t disk, const std::string& base) const = 0;
  // Starts tracker `next` and opens every disk as it is now, to read its changes since `base`
  // (or all of it when `base` is ""). Called again without a base when the run restarts in full;
  // throws BaseUnusable when the base turns out unusable.
  virtual std::vector<std::unique_ptr<NbdExport>> open(const std::string& next,
                                                       const std::string& base) = 0;
  // Called once the exports are closed. A committed run's tracker `next` stays and every older
  // one goes; a failed run's `next` goes and the base stays.
  virtual void finish(bool committed, const std::string& next) = 0;
};

// Trackers are persistent dirty bitmaps in the images; nothing may write them during a run.
std::unique_ptr<ChangeSource> imageFileSource(const std::vector<std::filesystem::path>& images);

// The prefix of every tracker the agent creates: others (the SP's, a backup tool's) are left alone.
inline constexpr std::string_view kTrackerPrefix = "warmsite-";

}  // namespace warmsite::replication
