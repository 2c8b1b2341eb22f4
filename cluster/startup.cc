#include "cluster/startup.h"

#include <charconv>

#include "cluster/persist.h"

namespace causeway::cluster {
namespace {

Status ClaimName(MetaStore& meta, const std::string& name) {
  auto stored = meta.Load(kMetaNodeName);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return meta.Store(kMetaNodeName, name);
  if (**stored != name) {
    return Status::InvalidArgument("the data dir belongs to node '" + **stored + "', not '" + name +
                                   "': start that node with --node-id " + **stored +
                                   ", or give this node its own --data-dir");
  }
  return Status::Ok();
}

Status RestoreTokens(MetaStore& meta, NodeConfig* config, StartupNotes* notes) {
  auto stored = meta.Load(kMetaTokens);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return Status::Ok();
  auto tokens = DecodeTokens(**stored);
  if (!tokens.ok()) return tokens.status();
  config->tokens = std::move(tokens).value();
  notes->tokens_restored = true;
  return Status::Ok();
}

Status RestoreMembers(MetaStore& meta, NodeConfig* config, StartupNotes* notes) {
  config->known_members.clear();
  auto stored = meta.Load(kMetaMembers);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return Status::Ok();
  auto members = DecodeMembers(**stored);
  if (!members.ok()) {
    notes->warnings.push_back("ignoring the stored member view: " + members.status().ToString());
    return Status::Ok();
  }
  config->known_members = std::move(members).value();
  notes->members_restored = config->known_members.size();
  return Status::Ok();
}

Status RestoreBootstrap(MetaStore& meta, NodeConfig* config) {
  auto stored = meta.Load(kMetaBootstrap);
  if (!stored.ok()) return stored.status();
  config->bootstrap_state = stored->has_value() ? **stored : std::string();
  return Status::Ok();
}

Status BumpGeneration(MetaStore& meta, NodeConfig* config) {
  auto stored = meta.Load(kMetaGeneration);
  if (!stored.ok()) return stored.status();
  uint64_t previous = 0;
  if (stored->has_value()) {
    const std::string& text = **stored;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), previous);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
      return Status::Corruption("the stored generation is unreadable");
    }
  }
  config->generation = previous + 1;
  return meta.Store(kMetaGeneration, std::to_string(config->generation));
}

}  // namespace

Result<NodeConfig> RestoreIdentity(MetaStore& meta, NodeConfig config, StartupNotes* notes) {
  if (Status s = ClaimName(meta, config.name); !s.ok()) return s;
  if (Status s = RestoreTokens(meta, &config, notes); !s.ok()) return s;
  if (Status s = RestoreMembers(meta, &config, notes); !s.ok()) return s;
  if (Status s = RestoreBootstrap(meta, &config); !s.ok()) return s;
  if (Status s = BumpGeneration(meta, &config); !s.ok()) return s;
  return config;
}

}  // namespace causeway::cluster
