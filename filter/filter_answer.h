// What the filter core answers to one milter event: plain data, no libmilter.
// The adapter turns it into smfi_setreply / smfi_quarantine / sfsistat.
#pragma once

#include <string>
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

}  // namespace quotamilter::filter
