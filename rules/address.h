// Envelope address normalisation: what an address is, for matching and as a
// tracked key. Case and +subaddress never dodge a quota (rules-v1.md, Items).
#pragma once

#include <string>
#include <string_view>

namespace quotamilter::rules {

struct Address {
    std::string local;   // lower case, subaddress removed; empty for the null sender
    std::string domain;  // lower case, no trailing dot; empty for the null sender
    bool null_sender = false;

    // "user@example.com", or "<>" for the null sender
    std::string str() const;
};

// Normalises whatever an SMTP client sent as MAIL FROM / RCPT TO argument
// (with or without angle brackets, quoted local parts, source routes, ...).
// Never throws; hostile input yields a best-effort value.
Address normalize_address(std::string_view raw);

}  // namespace quotamilter::rules
