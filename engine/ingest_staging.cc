// IngestStaging: engine/ingest_staging.h.
#include "engine/ingest_staging.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "base/limits.h"
#include "base/strings.h"

namespace causeway {

std::string IngestStaging::PathOf(uint64_t session) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%016llx.sst", static_cast<unsigned long long>(session));
  return dir_ + "/" + name;
}

Status IngestStaging::Clear() {
  std::lock_guard<std::mutex> lock(mu_);
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec) return Status::IoError(StrCat("cannot clear ", dir_, ": ", ec.message()));
  files_.clear();
  total_ = 0;
  return Status::Ok();
}

void IngestStaging::RemoveLocked(uint64_t session) {
  auto it = files_.find(session);
  if (it == files_.end()) return;
  total_ -= it->second.bytes;
  files_.erase(it);
  std::error_code ec;
  std::filesystem::remove(PathOf(session), ec);
}

Status IngestStaging::Append(uint64_t session, uint64_t offset, std::string_view bytes,
                             uint64_t now_ms) {
  if (bytes.size() > kIngestChunkBytesMax) {
    return Status::InvalidArgument(
        StrCat("ingestion chunk of ", bytes.size(), " bytes is over ", kIngestChunkBytesMax));
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> idle;
  for (const auto& [id, f] : files_) {
    if (id != session && now_ms > f.touched_ms + kIngestStagedIdleMs) idle.push_back(id);
  }
  for (uint64_t id : idle) RemoveLocked(id);
  auto it = files_.find(session);
  if (it == files_.end()) {
    if (offset != 0) {
      return Status::InvalidArgument("ingestion chunk for a file not staged here (removed?)");
    }
    if (files_.size() >= kIngestSessionsMax) {
      return Status::Overloaded(StrCat(kIngestSessionsMax, " ingestion files are staged already"));
    }
    std::error_code ec;
    std::filesystem::create_directories(dir_, ec);
    if (ec) return Status::IoError(StrCat("cannot create ", dir_, ": ", ec.message()));
    it = files_.emplace(session, File{}).first;
  }
  File& f = it->second;
  f.touched_ms = now_ms;
  if (offset + bytes.size() == f.bytes && offset < f.bytes) return Status::Ok();  // a resend
  if (offset != f.bytes) {
    return Status::InvalidArgument(
        StrCat("ingestion chunk at offset ", offset, ", but ", f.bytes, " bytes are staged"));
  }
  if (f.bytes + bytes.size() > kIngestFileBytesMax) {
    RemoveLocked(session);
    return Status::InvalidArgument(StrCat("ingestion file over ", kIngestFileBytesMax, " bytes"));
  }
  if (total_ + bytes.size() > kIngestStagedBytesMax) {
    return Status::Overloaded(
        StrCat("over ", kIngestStagedBytesMax, " bytes staged for ingestion"));
  }
  const std::string path = PathOf(session);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError(StrCat("open ", path, ": ", std::strerror(errno)));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      RemoveLocked(session);
      return Status::IoError(StrCat("write ", path, ": ", std::strerror(err)));
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  f.bytes += bytes.size();
  total_ += bytes.size();
  return Status::Ok();
}

Result<std::string> IngestStaging::Path(uint64_t session) {
  std::lock_guard<std::mutex> lock(mu_);
  if (files_.count(session) == 0) return Status::InvalidArgument("no ingestion file staged");
  return PathOf(session);
}

void IngestStaging::Remove(uint64_t session) {
  std::lock_guard<std::mutex> lock(mu_);
  RemoveLocked(session);
}

uint64_t IngestStaging::staged_bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}

}  // namespace causeway
