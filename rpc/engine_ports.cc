#include "rpc/engine_ports.h"

namespace causeway {

cluster::StorageResult RunOnEngine(Engine& engine, const cluster::StorageAction& action) {
  cluster::StorageResult result;
  if (action.kind == cluster::StorageAction::Kind::kApply) {
    auto r = engine.Apply(action.key, action.version);
    if (!r.ok()) result.status = r.status();
    return result;
  }
  auto r = engine.Get(action.key);
  if (r.ok()) {
    result.version = std::move(r).value();
  } else {
    result.status = r.status();
  }
  return result;
}

}  // namespace causeway
