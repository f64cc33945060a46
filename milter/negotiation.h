// What to ask of the MTA at xxfi_negotiate: which stages and macros. Kept out
// of the adapter so tests can check the flags without an MTA.
#pragma once

#include "filter/session.h"

#include <cstdint>
#include <string>

namespace quotamilter::milter {

struct Negotiation {
    std::uint64_t actions = 0;  // SMFIF_*: what we may do (quarantine, add headers, set macro lists)
    std::uint64_t steps = 0;    // SMFIP_*: the stages we do not want, and the ones we do not answer
    bool body = false;          // headers and body will be sent (byte counting)
    bool set_macro_lists = false;
    // SMFIP_NR_HDR / SMFIP_NR_BODY negotiated: every header / body callback
    // must then return SMFIS_NOREPLY (Session::on_header/on_body answer
    // FilterAnswer::Action::no_reply). libmilter, if the callback returned
    // anything else, would log an error and drop that answer; and a NOREPLY
    // without the flag would leave the MTA waiting for an answer.
    bool header_no_reply = false;
    bool body_no_reply = false;
    // The same, as the session sees it.
    filter::NegotiatedStages stages;
};

// `offered_actions` / `offered_steps`: f0 / f1 of xxfi_negotiate. We never
// ask for what is not offered.
//
// What is negotiated when:
//   - CONNECT, MAIL, RCPT, DATA and end of message: always, each answered.
//     DATA costs one round trip but avoids the 40 ms delayed-ACK stall over
//     TCP (milter-traps.md); MAIL, RCPT and end of message may refuse.
//   - HELO and unknown commands: never (SMFIP_NOHELO, SMFIP_NOUNKNOWN).
//   - Headers: when `needs_body` (their bytes count towards a `bytes` quota)
//     or `needs_headers` (a rule reads a header: match.header or
//     track header:NAME). A tag or other content rule on envelope conditions
//     alone needs no headers (RuleSet::needs_headers).
//   - End of headers: only when `needs_headers`; content rules are decided
//     there. Never "no reply": it may refuse.
//   - Body: only when `needs_body` (a `bytes` quota).
//   - SMFIP_NR_HDR / SMFIP_NR_BODY ("no reply"), when offered, whenever
//     headers / body will be sent: those callbacks only collect (bytes,
//     header values) and never decide; every refusal is answered at end of
//     headers or end of message, and so is an internal error met in them
//     (Session::defer_internal_error). Saves one round trip per header and
//     per body chunk. libmilter offers every SMFIP_NR_* in f1 and answers
//     CONTINUE itself for an MTA that lacks one (Postfix >= 2.6 has them).
//     Never NR on CONNECT, MAIL, RCPT, DATA, EOH or EOM.
//   - SMFIF_ADDHDRS only when `needs_tagging` (a tag verdict).
Negotiation negotiate(std::uint64_t offered_actions, std::uint64_t offered_steps, bool needs_body,
                      bool needs_headers, bool needs_tagging = false);

// The macros we ask for, per stage (smfi_setsymlist).
inline constexpr const char* kMailMacros = "{auth_authen} {mail_addr} i";
inline constexpr const char* kRcptMacros = "{rcpt_addr} i";
inline constexpr const char* kDataMacros = "i";
inline constexpr const char* kEomMacros = "i";

}  // namespace quotamilter::milter
