// A source_journal record's blob as a damaged or hostile state.sqlite could hold it:
// decoding either gives entries or an error naming what was wrong — never a crash, a
// read past the blob or an allocation the blob cannot back — and what decodes encodes
// back to the same bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "policy/limiter.h"
#include "state/source_journal.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view blob(reinterpret_cast<const char*>(data), size);
  whoisd::SourceState state;
  std::string error;
  for (std::size_t at = 0; at < blob.size();) {
    std::size_t next = whoisd::decode_journal_entry(blob, at, state, error);
    if (next == 0) {
      if (error.empty()) std::abort();
      return 0;
    }
    if (next <= at || next > blob.size()) std::abort();
    // An entry that decodes is one the encoder could have written, unless it took a
    // longer-than-needed varint form, which re-encodes shorter (never longer).
    whoisd::SourceJournalRecord again;
    again.add(state);
    if (again.bytes().size() > next - at) std::abort();
    whoisd::SourceState round_trip;
    if (whoisd::decode_journal_entry(again.bytes(), 0, round_trip, error) != again.bytes().size()) std::abort();
    if (!(round_trip == state)) std::abort();
    at = next;
  }
  return 0;
}
