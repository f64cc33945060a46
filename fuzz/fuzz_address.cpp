// Envelope addresses come straight from SMTP clients (MAIL FROM / RCPT TO).
// Normalising must never crash, and its result must be stable: normalising
// the printed form again gives the same address (a key must not drift).
#include "rules/address.h"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace quotamilter::rules;
    const std::string_view raw(reinterpret_cast<const char*>(data), size);
    const Address address = normalize_address(raw);
    const std::string printed = address.str();
    for (char c : address.domain) {
        if (c >= 'A' && c <= 'Z') std::abort();  // domains are lower case
    }
    if (address.null_sender && printed != "<>") std::abort();
    (void)normalize_address(printed);
    return 0;
}
