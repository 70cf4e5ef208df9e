// Pieces of the daemon that need no socket: listen addresses, query-line framing and
// the connection counts shared by the event loops.
#include <catch2/catch.hpp>

#include <netinet/in.h>

#include <string>
#include <thread>
#include <vector>

#include "query/query_parser.h"
#include "server/connection_limits.h"
#include "server/listen_address.h"
#include "server/query_line.h"

using namespace whoisd;

TEST_CASE("listen addresses: IPv4:port and [IPv6]:port", "[listen]") {
  auto a = ListenAddress::parse("127.0.0.1:4343");
  REQUIRE(a);
  CHECK(a->port == 4343);
  CHECK(a->family() == AF_INET);
  CHECK(a->to_string() == "127.0.0.1:4343");
  auto b = ListenAddress::parse("[2001:DB8::1]:43");
  REQUIRE(b);
  CHECK(b->family() == AF_INET6);
  CHECK(b->to_string() == "[2001:db8::1]:43");
  CHECK(ListenAddress::parse("[::]:0")->port == 0);
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:4x",
                          "::1:43", "[::1]", "[::1]43", "[127.0.0.1]:43", "localhost:43", "[::1:43", ":43"}) {
    std::string error;
    CHECK_FALSE(ListenAddress::parse(bad, &error));
    CHECK(error.find("not a listen address") != std::string::npos);
  }
  sockaddr_storage sa{};
  CHECK(a->to_sockaddr(sa) == sizeof(sockaddr_in));
  CHECK(b->to_sockaddr(sa) == sizeof(sockaddr_in6));
}

TEST_CASE("query line framing: LF or CR LF, at most 1024 bytes", "[line]") {
  using S = QueryLineFrame::Status;
  CHECK(frame_query_line("").status == S::need_more);
  CHECK(frame_query_line("exemplo.pt").status == S::need_more);
  CHECK(frame_query_line("exemplo.pt\r").status == S::need_more);
  auto f = frame_query_line("exemplo.pt\r\nextra");
  CHECK(f.status == S::complete);
  CHECK(f.line == "exemplo.pt");
  CHECK(frame_query_line("exemplo.pt\n").line == "exemplo.pt");
  CHECK(frame_query_line("\r\n").line.empty());
  CHECK(frame_query_line("a\rb\n").line == "a\rb");  // a CR inside is the parser's to refuse

  std::string max(kMaxQueryLineBytes, 'a');
  CHECK(frame_query_line(max).status == S::need_more);
  CHECK(frame_query_line(max + "\r").status == S::need_more);
  CHECK(frame_query_line(max + "\r\n").status == S::complete);
  CHECK(frame_query_line(max + "\n").line.size() == kMaxQueryLineBytes);
  auto over = frame_query_line(max + "a");
  CHECK(over.status == S::too_long);
  CHECK(over.line.size() == kMaxQueryLineBytes);
  CHECK(frame_query_line(max + "a\n").status == S::too_long);
  CHECK(frame_query_line(max + "\r\r").status == S::too_long);

  CHECK(frame_query_line("exemplo.pt", true).line == "exemplo.pt");
  CHECK(frame_query_line("exemplo.pt\r", true).line == "exemplo.pt");
  CHECK(frame_query_line(max + "a", true).status == S::too_long);
}

TEST_CASE("connection counts: total and per source, IPv6 by prefix", "[connections]") {
  ConnectionLimits limits;
  CHECK(limits.acquire_total(2));
  CHECK(limits.acquire_total(2));
  CHECK_FALSE(limits.acquire_total(2));
  limits.release_total();
  CHECK(limits.open_total() == 1);

  auto a1 = *IpAddress::parse("2001:db8:1:2::1");
  auto a2 = *IpAddress::parse("2001:db8:1:2:ffff::9");
  auto other = *IpAddress::parse("2001:db8:1:3::1");
  CHECK(connection_source(a1, 64) == connection_source(a2, 64));
  CHECK(connection_source_text(a2, 64) == "2001:db8:1:2::/64");
  CHECK(connection_source_text(*IpAddress::parse("::ffff:192.0.2.7"), 64) == "192.0.2.7");
  CHECK(limits.acquire_source(connection_source(a1, 64), 2));
  CHECK(limits.acquire_source(connection_source(a2, 64), 2));
  CHECK_FALSE(limits.acquire_source(connection_source(a1, 64), 2));
  CHECK(limits.acquire_source(connection_source(other, 64), 2));
  limits.release_source(connection_source(a2, 64));
  CHECK(limits.open_for(connection_source(a1, 64)) == 1);
  CHECK(limits.acquire_source(connection_source(a1, 64), 2));

  // A source whose count falls to zero leaves its map node to the next new source of
  // its shard: thousands of sources, each taking and giving back slots in turn while
  // others stay open, keep every count exact (no key of one left on another's node).
  ConnectionLimits churn;
  std::vector<IpAddress> sources;
  for (std::uint32_t i = 0; i < 4096; ++i) sources.push_back(IpAddress::v4(0xC0000200u + i));
  for (std::size_t i = 0; i < sources.size(); ++i) {
    REQUIRE(churn.acquire_source(sources[i], 3));
    if (i % 3 == 0) REQUIRE(churn.acquire_source(sources[i], 3));  // a second slot
    if (i > 0 && i % 2 == 0) churn.release_source(sources[i - 1]);  // the previous one drops a slot
  }
  for (std::size_t i = 0; i < sources.size(); ++i) {
    INFO(i);
    const std::uint32_t expected = 1 + (i % 3 == 0 ? 1 : 0) - (i % 2 == 1 && i + 1 < sources.size() ? 1 : 0);
    CHECK(churn.open_for(sources[i]) == expected);
  }
  CHECK_FALSE(churn.acquire_source(sources[0], 0));  // no slot at all: nothing is kept
  CHECK(churn.open_for(sources[1]) == 0);
  CHECK_FALSE(churn.acquire_source(sources[1], 0));
  CHECK(churn.open_for(sources[1]) == 0);
  churn.release_source(sources[1]);  // holds none: nothing to give back
  CHECK(churn.open_for(sources[1]) == 0);
  CHECK(churn.acquire_source(sources[1], 1));
  CHECK_FALSE(churn.acquire_source(sources[1], 1));

  // Many threads taking and giving back: the counts end where they started.
  ConnectionLimits shared;
  auto src = *IpAddress::parse("192.0.2.1");
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        if (shared.acquire_total(1000)) shared.release_total();
        if (shared.acquire_source(src, 1000)) shared.release_source(src);
      }
    });
  for (auto& t : threads) t.join();
  CHECK(shared.open_total() == 0);
  CHECK(shared.open_for(src) == 0);
}
