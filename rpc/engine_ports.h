// The engine behind the driver's storage ports (cluster/ports.h), without any event loop: the one
// mapping of a StorageAction onto Engine calls, and the engine's meta records as a MetaStore.
// The server's storage pool (rpc/internal/storage_pool.h) and the simulator both use them.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "cluster/messages.h"
#include "cluster/ports.h"
#include "engine/engine.h"

namespace causeway {

// The engine call `action` asks for. Touches only the engine (thread-safe): any thread.
cluster::StorageResult RunOnEngine(Engine& engine, const cluster::StorageAction& action);

// Engine::LoadMeta / Engine::StoreMeta (synced) as the start-up MetaStore.
class EngineMetaStore final : public cluster::MetaStore {
 public:
  explicit EngineMetaStore(Engine* engine) : engine_(engine) {}
  Result<std::optional<std::string>> Load(std::string_view name) override {
    return engine_->LoadMeta(name);
  }
  Status Store(std::string_view name, std::string_view value) override {
    return engine_->StoreMeta(name, value);
  }

 private:
  Engine* engine_;
};

}  // namespace causeway
