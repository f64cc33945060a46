#include "milter/negotiation.h"

#include <libmilter/mfapi.h>

namespace quotamilter::milter {

Negotiation negotiate(std::uint64_t offered_actions, std::uint64_t offered_steps, bool needs_body,
                      bool needs_headers, bool needs_tagging) {
    Negotiation result;
    // Actions: quarantine (verdict), our own macro lists, and add headers
    // only when a content rule tags (nothing asked for that is never used).
    std::uint64_t wanted_actions = SMFIF_QUARANTINE | SMFIF_SETSYMLIST;
    if (needs_tagging) wanted_actions |= SMFIF_ADDHDRS;
    result.actions = wanted_actions & offered_actions;
    result.set_macro_lists = (offered_actions & SMFIF_SETSYMLIST) != 0;

    // Stages we never use. CONNECT, MAIL, RCPT, DATA and EOM are always
    // wanted; DATA is cheap and avoids the delayed-ACK stall over TCP.
    std::uint64_t unwanted = SMFIP_NOHELO | SMFIP_NOUNKNOWN;
    const bool want_headers = needs_body || needs_headers;  // header bytes count towards the size
    if (!needs_body) unwanted |= SMFIP_NOBODY;
    if (!want_headers) unwanted |= SMFIP_NOHDRS;
    // End of headers is where content rules are decided.
    if (!needs_headers) unwanted |= SMFIP_NOEOH;
    result.steps = unwanted & offered_steps;
    // Without SMFIP_NOBODY on offer the MTA sends the body anyway; count it then.
    result.body = needs_body || (offered_steps & SMFIP_NOBODY) == 0;

    // No reply to headers and body chunks: they never decide (negotiation.h).
    // Only for stages that will be sent, and only when offered.
    const bool headers_sent = (result.steps & SMFIP_NOHDRS) == 0;
    result.header_no_reply = headers_sent && (offered_steps & SMFIP_NR_HDR) != 0;
    result.body_no_reply = result.body && (offered_steps & SMFIP_NR_BODY) != 0;
    if (result.header_no_reply) result.steps |= SMFIP_NR_HDR;
    if (result.body_no_reply) result.steps |= SMFIP_NR_BODY;
    result.stages.headers = headers_sent;
    result.stages.end_of_headers = (result.steps & SMFIP_NOEOH) == 0;
    result.stages.body = result.body;
    result.stages.no_reply_header = result.header_no_reply;
    result.stages.no_reply_body = result.body_no_reply;
    return result;
}

}  // namespace quotamilter::milter
