// What the filter core answers to one milter event: plain data, no libmilter.
// The adapter turns it into smfi_setreply / smfi_quarantine / sfsistat.
#pragma once

#include "filter/reply.h"
#include "rules/rule_set.h"

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace quotamilter::filter {

struct FilterAnswer {
    // no_reply: nothing is sent to the MTA (SMFIS_NOREPLY). Only ever the
    // answer of a stage negotiated "no reply" (SMFIP_NR_HDR / NR_BODY), and
    // always the answer there (negotiation.h).
    enum class Action { continue_, accept, reject, tempfail, discard, quarantine, no_reply };

    Action action = Action::continue_;
    // reject / tempfail: the SMTP reply, already checked and escaped for
    // smfi_setreply (see reply.h); empty means the MTA's default reply.
    std::string rcode;
    std::string xcode;
    std::string text;
    // quarantine: the reason Postfix logs with the hold
    std::string quarantine_reason;
    // headers to add at end of message (name, value)
    std::vector<std::pair<std::string, std::string>> add_headers;

    static FilterAnswer proceed() { return {}; }
    static FilterAnswer no_reply() {
        FilterAnswer answer;
        answer.action = Action::no_reply;
        return answer;
    }
    static FilterAnswer accept_message() {
        FilterAnswer answer;
        answer.action = Action::accept;
        return answer;
    }
    bool refuses() const { return action == Action::reject || action == Action::tempfail; }
};

std::string_view to_string(FilterAnswer::Action action);

// The one way a verdict becomes an answer: reject and tempfail carry `reply`
// (already made by make_reply, reply.h); quarantine holds the message with
// `quarantine_reason`; discard drops it; tag refuses nothing (its header is
// added where the message is accepted).
FilterAnswer verdict_answer(rules::Verdict verdict, SmtpReply reply, std::string_view quarantine_reason);

// The answer when the store cannot decide, or the filter failed, and
// on_store_error is tempfail: 451 4.7.1, "try again later".
FilterAnswer store_unavailable_answer();

}  // namespace quotamilter::filter
