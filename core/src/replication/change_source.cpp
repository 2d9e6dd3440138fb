#include "replication/change_source.h"

namespace warmsite::replication {

namespace {

class ImageFileSource final : public ChangeSource {
 public:
  explicit ImageFileSource(const std::vector<std::filesystem::path>& images) : images_(images) {
    for (const auto& image : images_) {
      infos_.push_back(inspectImage(image));
      if (infos_.back().format != "qcow2") {
        throw ImageError(image.string() + " is " + infos_.back().format +
                         "; change tracking needs qcow2");
      }
    }
  }

  std::uint64_t diskSize(std::size_t disk) const override { return infos_[disk].virtualSize; }

  std::string baseProblem(std::size_t disk, const std::string& base) const override {
    const auto* bitmap = infos_[disk].bitmap(base);
    if (bitmap == nullptr) return "the change-tracking bitmap " + base + " is missing";
    if (bitmap->inUse) {
      return "the change-tracking bitmap " + base +
             " was left in use by a writer that stopped uncleanly";
    }
    return "";
  }

  std::vector<std::unique_ptr<NbdExport>> open(const std::string& next,
                                               const std::string& base) override {
    if (!started_) {
      // Bitmaps of runs never confirmed (and, for a full run, the untrusted base) are stale.
      for (std::size_t i = 0; i < images_.size(); ++i) {
        for (const auto& existing : infos_[i].bitmaps) {
          if (existing.name.starts_with(kTrackerPrefix) && existing.name != base) {
            removeBitmap(images_[i], existing.name);
          }
        }
        addBitmap(images_[i], next);
      }
      started_ = true;
      base_ = base;
    }
    std::vector<std::unique_ptr<NbdExport>> exports;
    for (const auto& image : images_) {
      exports.push_back(std::make_unique<NbdExport>(
          image, NbdExport::Options{.writable = false, .dirtyBitmap = base, .snapshot = {}}));
    }
    return exports;
  }

  // open() left two bitmaps of ours: the base it kept and `next`.
  void finish(bool committed, const std::string& next) override {
    if (!started_) return;
    const std::string& dropped = committed ? base_ : next;
    if (dropped.empty()) return;
    for (const auto& image : images_) removeBitmap(image, dropped);
  }

 private:
  std::vector<std::filesystem::path> images_;
  std::vector<ImageInfo> infos_;
  bool started_ = false;
  std::string base_;  // the bitmap the first open() kept
};

}  // namespace

std::unique_ptr<ChangeSource> imageFileSource(const std::vector<std::filesystem::path>& images) {
  return std::make_unique<ImageFileSource>(images);
}

}  // namespace warmsite::replication
