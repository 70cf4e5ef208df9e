// Answers rendered per second on one core (issue 6 target: >= 500,000/s).
// Renders a mix of typical found answers (two or more name servers, some DS
// records, one IDN, one opted-out registrant, a host below a domain) and the
// no-match answer, with a three-line header and a one-line footer, as the
// daemon is configured in production.
//   bench_render           ~ a few seconds, 3 runs of 2,000,000 answers each
//   bench_render --quick   one short run
#include <chrono>
#include <ctime>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "render/answer_renderer.h"

namespace {

using whoisd::PublishedDomain;

// CPU time of this thread: on a shared machine the wall clock also counts the
// time other processes held the core, the thread's CPU time does not.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::vector<PublishedDomain> sample_domains() {
  std::vector<PublishedDomain> domains;
  for (int i = 0; i < 64; ++i) {
    PublishedDomain d;
    if (i % 8 == 0) {
      d.u_label = "açores-" + std::to_string(i) + ".pt";
      d.a_label = "xn--aores-" + std::to_string(i) + "-yra.pt";
    } else {
      d.u_label = d.a_label = "empresa-exemplo-" + std::to_string(i) + ".com.pt";
    }
    d.status = i % 5 == 0 ? "PENDING DELETE" : "ACTIVE";
    d.created = 853'200'000 + i * 86'400;
    d.expires = 1'816'127'982 - i * 3'600;
    d.registrant = {i % 7 != 0, "Empresa Exemplo de Comércio e Serviços, Lda",
                    "Rua Dr. António José de Almeida 123, 4.º Esq.", "Vila Nova de Gaia", "4400-001",
                    "Vila Nova de Gaia", "PT", "geral@empresa-exemplo.pt"};
    d.admin = {true, "Registos Exemplo - Serviços Internet, S.A.", "dominios@registos-exemplo.pt"};
    d.tech = {i % 11 != 0, "João Manuel Exemplo", "joao.exemplo@empresa-exemplo.pt"};
    d.name_servers = {{"ns1.empresa-exemplo.pt", {"192.0.2.1"}, {"2001:db8::1"}},
                      {"ns2.empresa-exemplo.pt", {"198.51.100.2", "198.51.100.3"}, {"2001:db8:1::53"}},
                      {"ns.dns-provider.example", {}, {}}};
    if (i % 3 == 0) d.ds_records = {{12345, 13, 2, "8F3C0A1B2C3D4E5F60718293A4B5C6D7E8F9001122334455667788990AABBCE1"}};
    if (!d.registrant.disclosed) d.registrant = {false, {}, {}, {}, {}, {}, {}, {}};
    if (!d.tech.disclosed) d.tech = {false, {}, {}};
    domains.push_back(std::move(d));
  }
  return domains;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const std::uint64_t per_run = quick ? 200'000 : 2'000'000;
  const int runs = quick ? 1 : 3;

  const whoisd::AnswerRenderer renderer(whoisd::AnswerTexts{
      {"% Terms of use: the data below is published under the .pt registration rules (Anexo 2).",
       "% Questions about this service: whois@example.pt", "% Dates are in UTC."},
      {"% End of answer"}});
  const std::vector<PublishedDomain> domains = sample_domains();

  std::printf("bench_render: %zu sample domains, %llu answers a run (1 in 8 a no-match), one thread\n",
              domains.size(), static_cast<unsigned long long>(per_run));
  double best = 0;
  for (int run = 0; run < runs; ++run) {
    std::uint64_t bytes = 0;
    const double cpu_start = thread_cpu_seconds();
    const auto start = std::chrono::steady_clock::now();
    for (std::uint64_t i = 0; i < per_run; ++i) {
      std::string answer = (i % 8 == 7) ? renderer.no_match("nao-registado.pt")
                                        : renderer.found(domains[i % domains.size()], i % 16 == 3);
      bytes += answer.size();
    }
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double cpu = thread_cpu_seconds() - cpu_start;
    const double rate = static_cast<double>(per_run) / cpu;
    if (rate > best) best = rate;
    std::printf("run %d: %.0f answers per CPU second (%.0f per wall second), %.1f MB/s of answer text, %.0f bytes an "
                "answer on average\n",
                run + 1, rate, static_cast<double>(per_run) / wall, static_cast<double>(bytes) / cpu / 1e6,
                static_cast<double>(bytes) / static_cast<double>(per_run));
  }
  std::printf("best: %.0f answers per CPU second on one core (target >= 500000)\n", best);
  return 0;
}
