// The settings an event loop reads for every connection and that a SIGHUP may
// change while the daemon runs: timeouts, connection limits, trusted proxies and the
// answer texts. Built whole by the control thread and handed to each loop as an
// immutable shared object, so that a connection sees one consistent set from start
// to end and no loop ever reads a half-updated one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "common/address.h"
#include "render/answer_renderer.h"

namespace whoisd {

struct LiveSettings {
  std::chrono::milliseconds read_timeout{10'000};
  std::chrono::milliseconds write_timeout{30'000};
  std::uint32_t max_connections = 10'000;
  std::uint32_t max_connections_per_source = 32;
  int ipv6_prefix = 64;                 // how connections are grouped per source
  std::vector<Network> trusted_proxies;
  std::shared_ptr<const AnswerRenderer> renderer = std::make_shared<AnswerRenderer>();

  bool is_trusted_proxy(const IpAddress& peer) const {
    for (const auto& n : trusted_proxies)
      if (n.contains(peer)) return true;
    return false;
  }
};

}  // namespace whoisd
