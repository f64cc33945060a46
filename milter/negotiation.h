// What to ask of the MTA at xxfi_negotiate: which stages and macros. Kept out
// of the adapter so tests can check the flags without an MTA.
#pragma once

#include <cstdint>
#include <string>

namespace quotamilter::milter {

struct Negotiation {
    std::uint64_t actions = 0;  // SMFIF_*: what we may do (quarantine, add headers, set macro lists)
    std::uint64_t steps = 0;    // SMFIP_*: the stages we do not want
    bool body = false;          // headers and body will be sent (byte counting)
    bool set_macro_lists = false;
};

// `offered_actions` / `offered_steps`: f0 / f1 of xxfi_negotiate. We never
// ask for what the MTA does not offer. The body (and headers, to count their
// bytes) only when `needs_body` (some quota counts bytes); DATA always
// (milter-traps.md, the 40 ms trap); no SMFIP_NR_* on any stage that can
// refuse. Headers and end of headers when `needs_headers` (content rules);
// SMFIF_ADDHDRS only when `needs_tagging` (a tag verdict).
Negotiation negotiate(std::uint64_t offered_actions, std::uint64_t offered_steps, bool needs_body,
                      bool needs_headers, bool needs_tagging = false);

// The macros we ask for, per stage (smfi_setsymlist).
inline constexpr const char* kMailMacros = "{auth_authen} {mail_addr} i";
inline constexpr const char* kRcptMacros = "{rcpt_addr} i";
inline constexpr const char* kDataMacros = "i";
inline constexpr const char* kEomMacros = "i";

}  // namespace quotamilter::milter
