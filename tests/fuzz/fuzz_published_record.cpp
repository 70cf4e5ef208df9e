// A published_domains record as a damaged or hostile snapshot could hold it (the
// encoding is in lib/snapshot/schema.sql): decoding either throws PublishedRecordError
// — never a crash, an out-of-bounds read or a huge allocation — or gives a domain whose
// undisclosed contacts carry no values and that encodes back to exactly the same bytes
// (the encoding is canonical, so nothing the decoder accepts is ambiguous). Decoding into
// a PublishedDomain reused from input to input (as the server does, one per thread)
// accepts and refuses exactly the same records and gives exactly the same domain.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "snapshot/published_record.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view record(reinterpret_cast<const char*>(data), size);
  whoisd::PublishedDomain d;
  static whoisd::PublishedDomain reused;  // holds what earlier inputs left in it
  bool reused_ok = true;
  try {
    whoisd::decode_published_record("fuzz.pt", record, reused);
  } catch (const whoisd::PublishedRecordError&) {
    reused_ok = false;
  }
  try {
    d = whoisd::decode_published_record("fuzz.pt", record);
  } catch (const whoisd::PublishedRecordError&) {
    if (reused_ok) std::abort();
    return 0;
  }
  if (!reused_ok || !(reused == d)) std::abort();
  if (d.a_label != "fuzz.pt") std::abort();
  const auto& r = d.registrant;
  if (!r.disclosed && !(r.name.empty() && r.address.empty() && r.locality.empty() && r.zip_code.empty() &&
                        r.zip_locality.empty() && r.country_code.empty() && r.email.empty())) {
    std::abort();
  }
  for (const auto* c : {&d.admin, &d.tech}) {
    if (!c->disclosed && !(c->name.empty() && c->email.empty())) std::abort();
  }
  if (whoisd::encode_published_record(d) != record) std::abort();
  return 0;
}
