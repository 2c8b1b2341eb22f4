// Engine: the HLC ceiling (the `clock` record, and its migration from the old file) and the
// node's meta records (docs/formats.md, "clock column family").
#include "engine/internal/engine_impl.h"

namespace causeway {

using internal::FromRocksDb;

// ---- clock and identity -----------------------------------------------------------------------

// 0 when the file does not exist (a new database, or one written before or after the file).
Result<uint64_t> Engine::Impl::ReadCeilingFile() {
  const std::string name = options.dir + kHlcCeilingFile;
  if (fs()->FileExists(name, rocksdb::IOOptions(), nullptr).IsNotFound()) return uint64_t{0};
  std::string bytes;
  rocksdb::IOStatus s = rocksdb::ReadFileToString(fs(), name, &bytes);
  if (!s.ok()) return FromRocksDb(s, "read hlc ceiling");
  if (bytes.size() != 8) return Status::Corruption("bad HLC_CEILING file");
  return internal::DecodeFixed64Le(bytes.data());
}

// Moves an HLC_CEILING file's value into the `clock` record (synced, kept if the record is
// higher), then deletes the file. A power loss that undoes the deletion only means reading it
// once more: the record is already at least as high.
Status Engine::Impl::MigrateCeilingFile() {
  Result<uint64_t> from_file = ReadCeilingFile();
  if (!from_file.ok()) return from_file.status();
  if (*from_file == 0) return Status::Ok();
  std::string bytes;
  internal::PutFixed64Le(&bytes, *from_file);
  Result<std::optional<std::string>> stored = ReadRaw(clock(), kHlcCeilingName);
  if (!stored.ok()) return stored.status();
  if (stored->has_value() && (*stored)->size() != 8) {
    return Status::Corruption("bad hlc_ceiling record");
  }
  if (!stored->has_value() || internal::DecodeFixed64Le((*stored)->data()) < *from_file) {
    if (Status s = Put(clock(), kHlcCeilingName, bytes, synced_options); !s.ok()) return s;
  }
  return CheckWrite(fs()->DeleteFile(options.dir + kHlcCeilingFile, rocksdb::IOOptions(), nullptr),
                    "remove HLC_CEILING");
}

// Writes the ceiling record if `ceiling_ms` is above what was written (never lowering it), and
// publishes the written value as durable once a sync covers it: a synced write in `always`
// (writers there sync anyway), elsewhere an unsynced write and then one WAL sync, which, unlike a
// synced write, holds up no other writer (and is the periodic sync itself when the syncer calls
// this in `periodic`).
Status Engine::Impl::MakeCeilingDurable(uint64_t ceiling_ms) {
  const bool always = options.sync == SyncMode::kAlways;
  uint64_t written_ms = 0;
  {
    std::lock_guard<std::mutex> lock(ceiling_mu);
    written_ms = ceiling_written.load(std::memory_order_relaxed);  // `always`: written = synced
    if (ceiling_ms > written_ms) {
      std::string bytes;
      internal::PutFixed64Le(&bytes, ceiling_ms);
      const rocksdb::WriteOptions& wo = always ? synced_options : unsynced_options;
      if (Status s = Put(clock(), kHlcCeilingName, bytes, wo); !s.ok()) return s;
      written_ms = ceiling_ms;
      ceiling_written.store(written_ms, std::memory_order_release);
    }
  }
  if (!always) {
    if (Status s = CheckWrite(db->SyncWAL(), "sync hlc ceiling"); !s.ok()) return s;
  }
  StoreMax(&ceiling_durable, written_ms);
  return Status::Ok();
}

// The stored record: what the last durable (or later) write left. Migration ran at Open.
Result<uint64_t> Engine::LoadHlcCeilingMs() {
  Result<std::optional<std::string>> stored = impl_->ReadRaw(impl_->clock(), kHlcCeilingName);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return uint64_t{0};
  if ((*stored)->size() != 8) return Status::Corruption("bad hlc_ceiling record");
  return internal::DecodeFixed64Le((*stored)->data());
}

Status Engine::StoreHlcCeilingMs(uint64_t ceiling_ms) {
  if (Status s = impl_->CheckWritable(); !s.ok()) return s;
  return impl_->MakeCeilingDurable(ceiling_ms);
}

void Engine::RequestHlcCeilingMs(uint64_t ceiling_ms) {
  if (!impl_->has_syncer) return;  // no syncer: the clock renews synchronously
  StoreMax(&impl_->ceiling_requested, ceiling_ms);
  impl_->ScheduleRenewal(ceiling_ms);
}

HlcCeilingSchedule Engine::CeilingSchedule() { return impl_->CeilingSchedule(); }

uint64_t Engine::DurableHlcCeilingMs() {
  return impl_->ceiling_durable.load(std::memory_order_acquire);
}

Result<std::optional<std::string>> Engine::LoadMeta(std::string_view name) {
  if (name.empty() || name.size() > kKeyBytesMax) return Status::InvalidArgument("bad meta name");
  return impl_->ReadRaw(impl_->clock(), name);
}

Status Engine::StoreMeta(std::string_view name, std::string_view value) {
  if (name == kHlcCeilingName || name == kFormatVersionName) {
    return Status::InvalidArgument("meta name '" + std::string(name) + "' is the engine's own");
  }
  if (name.empty() || name.size() > kKeyBytesMax || value.size() > kValueBytesMax) {
    return Status::InvalidArgument("bad meta record size");
  }
  return impl_->Put(impl_->clock(), name, value, impl_->synced_options);
}

}  // namespace causeway
