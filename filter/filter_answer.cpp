#include "filter/filter_answer.h"

namespace quotamilter::filter {

std::string_view to_string(FilterAnswer::Action action) {
    switch (action) {
        case FilterAnswer::Action::continue_: return "continue";
        case FilterAnswer::Action::accept: return "accept";
        case FilterAnswer::Action::reject: return "reject";
        case FilterAnswer::Action::tempfail: return "tempfail";
        case FilterAnswer::Action::discard: return "discard";
        case FilterAnswer::Action::quarantine: return "quarantine";
        case FilterAnswer::Action::no_reply: return "no_reply";
    }
    return "continue";
}

FilterAnswer verdict_answer(rules::Verdict verdict, SmtpReply reply, std::string_view quarantine_reason) {
    FilterAnswer answer;
    switch (verdict) {
        case rules::Verdict::reject:
        case rules::Verdict::tempfail:
            answer.action = verdict == rules::Verdict::reject ? FilterAnswer::Action::reject
                                                              : FilterAnswer::Action::tempfail;
            answer.rcode = std::move(reply.rcode);
            answer.xcode = std::move(reply.xcode);
            answer.text = std::move(reply.text);
            break;
        case rules::Verdict::quarantine:
            answer.action = FilterAnswer::Action::quarantine;
            answer.quarantine_reason = sanitize_reply_text(quarantine_reason);
            break;
        case rules::Verdict::discard: answer.action = FilterAnswer::Action::discard; break;
        case rules::Verdict::tag: break;
    }
    return answer;
}

FilterAnswer store_unavailable_answer() {
    return verdict_answer(rules::Verdict::tempfail, store_unavailable_reply(), {});
}

}  // namespace quotamilter::filter
