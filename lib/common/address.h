// IP addresses and networks as whoisd compares them: the source of a query, a
// trusted proxy, an exempt network. One 16-byte form for both families, with an
// IPv4 address held as its IPv4-mapped IPv6 form (::ffff:a.b.c.d), so that an
// IPv4 client reaching an IPv6 socket is the same source as over IPv4.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct sockaddr;

namespace whoisd {

class IpAddress {
 public:
  IpAddress() = default;  // ::
  static IpAddress v4(std::uint32_t host_order);
  static IpAddress v6(const std::array<std::uint8_t, 16>& bytes);  // mapped ones become IPv4
  // Text forms: "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1" (-> IPv4). No ports, no brackets.
  static std::optional<IpAddress> parse(std::string_view text);
  // From a socket address (AF_INET or AF_INET6); nullopt for any other family.
  static std::optional<IpAddress> from_sockaddr(const sockaddr* sa);

  bool is_v4() const;
  std::uint32_t v4_host_order() const;  // only meaningful when is_v4()
  const std::array<std::uint8_t, 16>& bytes() const { return bytes_; }
  // Canonical text: dotted quad for IPv4, RFC 5952 for IPv6.
  std::string to_string() const;
  // The address with every bit past `prefix` (counted in its own family) set to zero.
  IpAddress masked(int prefix) const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;

 private:
  std::array<std::uint8_t, 16> bytes_{};
};

// A CIDR network: "192.0.2.0/24", "2001:db8::/32", or a bare address (a host route).
class Network {
 public:
  // nullopt with `error` set when the text is not a network; host bits must be zero.
  static std::optional<Network> parse(std::string_view text, std::string* error = nullptr);
  bool contains(const IpAddress& address) const;
  const IpAddress& base() const { return base_; }
  int prefix() const { return prefix_; }  // in the network's own family: 0-32 or 0-128
  std::string to_string() const;
  friend bool operator==(const Network&, const Network&) = default;

 private:
  IpAddress base_;
  int prefix_ = 0;
};

// An ordered list of networks each tagged with a value; lookup returns the value of
// the most specific network that contains an address (longest prefix wins).
template <typename Value>
class NetworkMap {
 public:
  void add(const Network& network, Value value) { entries_.push_back({network, std::move(value)}); }
  const Value* find(const IpAddress& address) const {
    const Entry* best = nullptr;
    for (const auto& e : entries_) {
      if (e.network.contains(address) && (!best || e.network.prefix() + (e.network.base().is_v4() ? 96 : 0) >
                                                       best->network.prefix() + (best->network.base().is_v4() ? 96 : 0)))
        best = &e;
    }
    return best ? &best->value : nullptr;
  }
  bool empty() const { return entries_.empty(); }
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Network network;
    Value value;
  };
  std::vector<Entry> entries_;
};

}  // namespace whoisd
