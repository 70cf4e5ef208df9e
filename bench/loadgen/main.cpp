// whoisd-loadgen: load a whois server the way whois clients do, and say how it held up.
// See bench/README.md for what it measures and how the scenarios use it.
#include <arpa/inet.h>
#include <sys/resource.h>
#include <uv.h>

#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/address.h"
#include "query/query_parser.h"
#include "load_worker.h"
#include "process_watch.h"
#include "query_mix.h"
#include "source_addresses.h"
#include "startup_probe.h"

using namespace whoisd::bench;

namespace {

sockaddr_in parse_target(const std::string& text) {
  const auto colon = text.rfind(':');
  const auto address = colon == std::string::npos ? std::nullopt : whoisd::IpAddress::parse(text.substr(0, colon));
  const std::string port_text = colon == std::string::npos ? "" : text.substr(colon + 1);
  if (!address || !address->is_v4() || port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos || std::stoul(port_text) == 0 ||
      std::stoul(port_text) > 65535)
    throw std::invalid_argument("--target '" + text + "': expected IPv4:PORT, e.g. 127.0.0.1:4343");
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(std::stoul(port_text)));
  sa.sin_addr.s_addr = htonl(address->v4_host_order());
  return sa;
}

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

double cpu_seconds_of_self() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

const char* expectation_name(Expectation e) {
  switch (e) {
    case Expectation::per_query: return "per-query";
    case Expectation::limit: return "limit";
    case Expectation::any: return "any";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"whoisd-loadgen: one whois query per connection, many connections, answers checked"};
  std::string target_text, snapshot, names_file, mix_text = "90,8,2", source_base = "127.1.0.0", expect_text =
                                                                                                       "per-query";
  std::string label, watch_mapped;
  std::size_t connections = 50, threads = 1, max_names = 100000;
  double rate = 0, duration = 0, warmup = 0;
  std::int64_t count = 0;
  std::uint64_t seed = 1, timeout_ms = 10000, probe_give_up_ms = 10000, probe_since_ns = 0;
  std::uint32_t sources = 65536;
  bool allow_limit = false, no_linger_zero = false, probe = false, quiet = false;
  int watch_pid = 0;
  std::vector<int> cpu_pids;
  app.add_option("-t,--target", target_text, "server address, IPv4:PORT")->required();
  app.add_option("-c,--connections", connections, "clients per thread in flight at once (closed loop: always)")
      ->check(CLI::Range(1, 100000));
  app.add_option("--threads", threads, "event-loop threads of the generator")->check(CLI::Range(1, 64));
  app.add_option("-r,--rate", rate, "open loop: queries a second in all (0: closed loop, as fast as it can)")
      ->check(CLI::Range(0.0, 1e7));
  app.add_option("-d,--duration", duration, "seconds to send for (default 10 unless --count)")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("-n,--count", count, "queries to send in all")->check(CLI::Range(std::int64_t{0}, INT64_MAX));
  app.add_option("--warmup", warmup, "seconds at the start that are sent but not measured")
      ->check(CLI::Range(0.0, 3600.0));
  app.add_option("--snapshot", snapshot, "read registered names from this whoisd snapshot (SQLite)");
  app.add_option("--names", names_file, "read registered names from this file, one a line");
  app.add_option("--max-names", max_names, "at most this many registered names (random sample)")
      ->check(CLI::Range(1, 100000000));
  app.add_option("--mix", mix_text, "weights FOUND,NOMATCH,INVALID of the query kinds");
  app.add_option("--seed", seed, "seed of the query sequence");
  app.add_option("--sources", sources, "distinct source addresses (0: do not bind, 127.0.0.1)");
  app.add_option("--source-base", source_base, "first source address, in 127.0.0.0/8");
  app.add_option("--expect", expect_text, "per-query | limit | any: what a correct answer is")
      ->check(CLI::IsMember({"per-query", "limit", "any"}));
  app.add_flag("--allow-limit", allow_limit, "per-query: limit answers are not errors");
  app.add_flag("--no-linger-zero", no_linger_zero, "close with FIN as whois clients do (leaves TIME_WAIT)");
  app.add_option("--timeout-ms", timeout_ms, "a query without the server's close after this long is an error")
      ->check(CLI::Range(1, 600000));
  app.add_option("--watch-pid", watch_pid, "report this process's peak RSS and CPU during the run");
  app.add_option("--cpu-pids", cpu_pids, "more processes whose CPU counts as the server's (nginx workers)")
      ->delimiter(',');
  app.add_option("--watch-mapped", watch_mapped, "path prefix of mapped files not counted as the process's own memory");
  app.add_flag("--probe", probe, "start-up mode: query until the first complete answer, then report when");
  app.add_option("--probe-since-ns", probe_since_ns, "CLOCK_REALTIME ns the server was started (date +%s%N)");
  app.add_option("--probe-timeout-ms", probe_give_up_ms, "give up probing after this long");
  app.add_option("--label", label, "a word copied into the summary line");
  app.add_flag("-q,--quiet", quiet, "print only the summary line");
  CLI11_PARSE(app, argc, argv);

  try {
    const sockaddr_in target = parse_target(target_text);
    const MixWeights weights = parse_mix(mix_text);
    const Expectation expect = expect_text == "limit" ? Expectation::limit
                               : expect_text == "any" ? Expectation::any
                                                      : Expectation::per_query;
    std::vector<std::string> names;
    if (!snapshot.empty()) names = load_names_from_snapshot(snapshot, max_names);
    else if (!names_file.empty()) names = load_names_from_file(names_file, max_names);
    if (expect != Expectation::per_query && names.empty()) names.push_back("example.pt");  // content not judged
    // Judge the names with whoisd's own parser, so that an answer of another kind is the
    // server's fault, not a name no query can reach.
    const whoisd::QueryParser parser;
    const std::size_t loaded = names.size();
    const QueryMix mix(std::move(names), weights, seed, expect == Expectation::per_query ? &parser : nullptr);
    if (mix.dropped() > 0 && !quiet)
      std::printf("queries      %zu registered names loaded, %zu kept; %zu lines left out (whoisd's parser reads "
                  "them as another kind)\n", loaded, mix.found_count(), mix.dropped());
    const SourceAddresses source_addresses(source_base, sources);

    if (probe) {
      sockaddr_in source{};
      if (source_addresses.enabled()) source = source_addresses.address(0);
      const ProbeResult r = probe_until_answer(target, source, mix.pick(0).line, probe_give_up_ms);
      const double startup_ms =
          r.answered && probe_since_ns ? static_cast<double>(r.answered_realtime_ns - probe_since_ns) / 1e6 : -1.0;
      if (!quiet) {
        if (r.answered)
          std::printf("first answer (%s) after %llu attempts%s\n", to_string(r.kind),
                      static_cast<unsigned long long>(r.attempts),
                      startup_ms >= 0 ? (", " + std::to_string(startup_ms) + " ms after start").c_str() : "");
        else
          std::printf("no answer after %llu attempts: %s\n", static_cast<unsigned long long>(r.attempts),
                      r.error.c_str());
      }
      std::printf("summary label=%s mode=probe answered=%d kind=%s attempts=%llu startup_ms=%.1f answered_us=%llu\n",
                  label.empty() ? "-" : label.c_str(), r.answered ? 1 : 0, to_string(r.kind),
                  static_cast<unsigned long long>(r.attempts), startup_ms,
                  static_cast<unsigned long long>(r.answered_realtime_ns / 1000));
      return r.answered ? 0 : 1;
    }

    if (duration == 0 && count == 0) duration = 10;
    RunPlan plan;
    plan.target = target;
    plan.mix = &mix;
    plan.sources = &source_addresses;
    plan.expect = expect;
    plan.allow_limit = allow_limit;
    plan.linger_zero = !no_linger_zero;
    plan.timeout_ns = timeout_ms * 1'000'000;
    plan.warmup_ns = static_cast<std::uint64_t>(warmup * 1e9);
    if (count > 0) plan.remaining = count;

    std::unique_ptr<ProcessWatch> watch;
    if (watch_pid > 0) watch = std::make_unique<ProcessWatch>(watch_pid, watch_mapped);
    std::vector<std::unique_ptr<ProcessWatch>> cpu_watches;
    for (int pid : cpu_pids) cpu_watches.push_back(std::make_unique<ProcessWatch>(pid, "", 1000));
    // Workers start a few milliseconds from now, together.
    plan.start_ns = uv_hrtime() + 5'000'000;
    if (duration > 0) plan.end_ns = plan.start_ns + static_cast<std::uint64_t>(duration * 1e9);
    const double worker_rate = rate / static_cast<double>(threads);
    std::vector<std::unique_ptr<LoadWorker>> workers;
    for (std::size_t i = 0; i < threads; ++i)
      workers.push_back(std::make_unique<LoadWorker>(
          plan, connections, worker_rate,
          rate > 0 ? static_cast<std::uint64_t>(1e9 / rate * static_cast<double>(i)) : 0));
    const double cpu_before = cpu_seconds_of_self();
    while (uv_hrtime() < plan.start_ns) std::this_thread::yield();
    std::vector<std::thread> running;
    for (auto& w : workers) running.emplace_back([&w] { w->run(); });
    for (auto& t : running) t.join();
    const double cpu_used = cpu_seconds_of_self() - cpu_before;
    if (watch) watch->stop();
    double server_cpu = watch ? watch->cpu_seconds() : 0.0;
    for (auto& w : cpu_watches) {
      w->stop();
      server_cpu += w->cpu_seconds();
    }


    WorkerResult total;
    for (auto& w : workers) total.merge(w->result());
    const std::uint64_t measure_from = plan.start_ns + plan.warmup_ns;
    const double seconds = total.last_end_ns > measure_from ? static_cast<double>(total.last_end_ns - measure_from) / 1e9 : 0;
    const double qps = seconds > 0 ? static_cast<double>(total.measured) / seconds : 0;
    const double wall = total.last_end_ns > plan.start_ns ? static_cast<double>(total.last_end_ns - plan.start_ns) / 1e9 : 0;
    const auto& h = total.latency;
    // CPU per query is the figure that other work on a shared machine disturbs least.
    const double server_cpu_us = total.completed ? server_cpu * 1e6 / static_cast<double>(total.completed) : 0.0;
    const std::uint64_t errors = total.error_total();

    for (std::size_t k = 0; k < kErrorKinds; ++k)
      if (!total.example[k].empty())
        std::fprintf(stderr, "first %s error: %s\n", to_string(static_cast<ErrorKind>(k)), total.example[k].c_str());
    if (!quiet) {
      std::printf("target %s, %s, %zu thread(s) x %zu connections, sources %s\n", target_text.c_str(),
                  rate > 0 ? ("open loop at " + std::to_string(static_cast<long long>(rate)) + "/s").c_str()
                           : "closed loop",
                  threads, connections, source_addresses.describe().c_str());
      std::printf("queries      %llu measured in %.2f s (%llu in all): %.0f/s\n",
                  static_cast<unsigned long long>(total.measured), seconds,
                  static_cast<unsigned long long>(total.completed), qps);
      std::printf("answer time  p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms  mean %.3f ms\n",
                  ms(h.percentile(0.5)), ms(h.percentile(0.99)), ms(h.percentile(0.999)), ms(h.max()),
                  h.mean() / 1e6);
      if (rate > 0)
        std::printf("start lag    p50 %.3f ms  p99 %.3f ms  max %.3f ms (generator's own lateness)\n",
                    ms(total.lag.percentile(0.5)), ms(total.lag.percentile(0.99)), ms(total.lag.max()));
      std::printf("answers     ");
      for (std::size_t k = 0; k < total.answers.size(); ++k)
        std::printf(" %s %llu", to_string(static_cast<AnswerKind>(k)),
                    static_cast<unsigned long long>(total.answers[k]));
      std::printf("\nerrors       %llu", static_cast<unsigned long long>(errors));
      for (std::size_t k = 0; k < kErrorKinds; ++k)
        if (total.errors[k]) std::printf("  %s %llu", to_string(static_cast<ErrorKind>(k)),
                                         static_cast<unsigned long long>(total.errors[k]));
      std::printf("\n");
      std::printf("generator    %.2f CPU s in %.2f s (%.0f%% of one core)\n", cpu_used, wall,
                  wall > 0 ? 100 * cpu_used / wall : 0.0);
      if (watch)
        std::printf("server       pid %d: peak RSS %llu kB (VmHWM %llu kB), beyond mapped snapshot %llu kB, "
                    "%.2f CPU s\n",
                    watch_pid, static_cast<unsigned long long>(watch->peak_rss_kb()),
                    static_cast<unsigned long long>(watch->hwm_kb()),
                    static_cast<unsigned long long>(watch->peak_beyond_mapped_kb()), server_cpu);
      if (watch || !cpu_watches.empty()) std::printf("server CPU   %.1f us a query\n", server_cpu_us);
    }
    std::printf("summary label=%s mode=%s threads=%zu connections=%zu rate=%.0f sources=%u expect=%s queries=%llu "
                "seconds=%.3f qps=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f lag_p99_ms=%.3f "
                "found=%llu nomatch=%llu invalid=%llu limit=%llu errors=%llu",
                label.empty() ? "-" : label.c_str(), rate > 0 ? "open" : "closed", threads, connections, rate,
                sources, expectation_name(expect), static_cast<unsigned long long>(total.measured), seconds, qps,
                ms(h.percentile(0.5)), ms(h.percentile(0.99)), ms(h.percentile(0.999)), ms(h.max()),
                ms(total.lag.percentile(0.99)),
                static_cast<unsigned long long>(total.answers[static_cast<std::size_t>(AnswerKind::found)]),
                static_cast<unsigned long long>(total.answers[static_cast<std::size_t>(AnswerKind::not_found)]),
                static_cast<unsigned long long>(total.answers[static_cast<std::size_t>(AnswerKind::invalid)]),
                static_cast<unsigned long long>(total.answers[static_cast<std::size_t>(AnswerKind::limit)]),
                static_cast<unsigned long long>(errors));
    for (std::size_t k = 0; k < kErrorKinds; ++k)
      std::printf(" err_%s=%llu", to_string(static_cast<ErrorKind>(k)),
                  static_cast<unsigned long long>(total.errors[k]));
    std::printf(" resets_after_answer=%llu", static_cast<unsigned long long>(total.resets_after_answer));
    std::printf(" gen_cpu=%.2f", wall > 0 ? cpu_used / wall : 0.0);
    if (watch || !cpu_watches.empty()) std::printf(" server_cpu_us_per_query=%.1f", server_cpu_us);
    if (watch)
      std::printf(" server_peak_rss_kb=%llu server_hwm_kb=%llu server_beyond_mapped_kb=%llu server_mapped_kb=%llu "
                  "server_cpu=%.2f",
                  static_cast<unsigned long long>(watch->peak_rss_kb()), static_cast<unsigned long long>(watch->hwm_kb()),
                  static_cast<unsigned long long>(watch->peak_beyond_mapped_kb()),
                  static_cast<unsigned long long>(watch->last_mapped_kb()), wall > 0 ? watch->cpu_seconds() / wall : 0.0);
    std::printf("\n");
    return errors == 0 && total.measured > 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "whoisd-loadgen: %s\n", e.what());
    return 2;
  }
}
