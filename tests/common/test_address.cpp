#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <cstdint>

#include "common/address.h"

using whoisd::IpAddress;
using whoisd::Network;

TEST_CASE("IPv4 and IPv4-mapped IPv6 are one address") {
  auto a = IpAddress::parse("192.0.2.7");
  auto b = IpAddress::parse("::ffff:192.0.2.7");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == *b);
  CHECK(a->is_v4());
  CHECK(b->to_string() == "192.0.2.7");
  CHECK(a->v4_host_order() == 0xc0000207u);
}

TEST_CASE("IPv6 text is canonical") {
  auto a = IpAddress::parse("2001:0DB8:0000:0000:0000:0000:0000:0001");
  REQUIRE(a);
  CHECK_FALSE(a->is_v4());
  CHECK(a->to_string() == "2001:db8::1");
}

TEST_CASE("bad addresses are refused") {
  for (const char* bad : {"", "1.2.3", "1.2.3.4.5", "256.1.1.1", "2001:db8::1::2", "[::1]", "1.2.3.4:43", "example.pt"})
    CHECK_FALSE(IpAddress::parse(bad));
}

TEST_CASE("masking keeps the prefix in the address's own family") {
  CHECK(IpAddress::parse("192.0.2.77")->masked(24).to_string() == "192.0.2.0");
  CHECK(IpAddress::parse("2001:db8:1:2:3:4:5:6")->masked(64).to_string() == "2001:db8:1:2::");
  CHECK(IpAddress::parse("2001:db8:1:2:3:4:5:6")->masked(48).to_string() == "2001:db8:1::");
  CHECK(IpAddress::parse("10.1.2.3")->masked(0).to_string() == "0.0.0.0");
}

TEST_CASE("networks parse, validate and contain") {
  std::string error;
  auto n = Network::parse("192.0.2.0/24", &error);
  REQUIRE(n);
  CHECK(n->contains(*IpAddress::parse("192.0.2.255")));
  CHECK(n->contains(*IpAddress::parse("::ffff:192.0.2.1")));
  CHECK_FALSE(n->contains(*IpAddress::parse("192.0.3.0")));
  CHECK_FALSE(n->contains(*IpAddress::parse("2001:db8::1")));

  auto host = Network::parse("2001:db8::1");
  REQUIRE(host);
  CHECK(host->prefix() == 128);

  CHECK_FALSE(Network::parse("192.0.2.1/24", &error));
  CHECK(error.find("192.0.2.0/24") != std::string::npos);
  CHECK_FALSE(Network::parse("192.0.2.0/33", &error));
  CHECK_FALSE(Network::parse("192.0.2.0/", &error));
  CHECK_FALSE(Network::parse("192.0.2.0/x", &error));
  CHECK_FALSE(Network::parse("nonsense/8", &error));
}

TEST_CASE("network map picks the most specific network") {
  whoisd::NetworkMap<int> map;
  map.add(*Network::parse("10.0.0.0/8"), 1);
  map.add(*Network::parse("10.1.0.0/16"), 2);
  map.add(*Network::parse("2001:db8::/32"), 3);
  CHECK(*map.find(*IpAddress::parse("10.1.2.3")) == 2);
  CHECK(*map.find(*IpAddress::parse("10.2.2.3")) == 1);
  CHECK(*map.find(*IpAddress::parse("2001:db8:ff::1")) == 3);
  CHECK(map.find(*IpAddress::parse("192.0.2.1")) == nullptr);
}

TEST_CASE("IPv4 text is dotted decimal without leading zeros, as inet_ntop writes it") {
  // Every byte value in every position, against the C library's formatter.
  for (unsigned v = 0; v < 256; ++v) {
    for (int position = 0; position < 4; ++position) {
      std::uint32_t host = 0x01020304u & ~(0xffu << (8 * position));
      host |= std::uint32_t{v} << (8 * position);
      in_addr a4{};
      a4.s_addr = htonl(host);
      char expected[INET_ADDRSTRLEN];
      REQUIRE(inet_ntop(AF_INET, &a4, expected, sizeof expected) != nullptr);
      CHECK(IpAddress::v4(host).to_string() == expected);
    }
  }
}
