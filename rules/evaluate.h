// Which quotas apply to a message, with which tracked keys: the one question
// the milter asks of the rules. Pure: no I/O.
#pragma once

#include "rules/address.h"
#include "rules/header_match.h"
#include "rules/rule_set.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace quotamilter::rules {

// What is known of a message. At MAIL FROM the recipients are still empty.
struct MessageFacts {
    Address sender;
    std::optional<std::string> sasl_user;   // {auth_authen}; unset when not authenticated
    std::optional<std::string> client_ip;   // textual IPv4/IPv6; unset when unknown
    std::vector<Address> recipients;        // accepted so far (plus, at RCPT, the candidate)
    std::uint64_t size = 0;                 // bytes: SIZE= at MAIL FROM, the real size at end of message
    // Headers are known from end of headers on. Before that, policies with
    // header conditions are "not matched (decided at end of headers)", an
    // exempt one among them ends the evaluation, header tracks are absent.
    bool headers_known = false;
    std::vector<HeaderField> headers;       // in message order; only the names the rules use need be here
};

// One quota that applies, with the value it is tracked by and what this
// message costs it.
struct ApplicableQuota {
    const Policy* policy = nullptr;
    const Quota* quota = nullptr;
    std::string tracked_value;   // "user1@hudedu.net", "hudedu.net", "192.0.2.0/24", the policy name for track=policy
    std::uint64_t cost = 0;      // messages: 1; recipients: matched recipients; bytes: facts.size
};

// Why each policy did or did not apply; for `explain` and logs.
struct PolicyTrace {
    const Policy* policy = nullptr;
    bool matched = false;
    std::string reason;          // e.g. "sender matched %internal_domains", "no recipient matched"
};

// A content rule (a policy with a `verdict`) that matched.
struct MatchedVerdict {
    const Policy* policy = nullptr;
};

struct MessagePlan {
    std::vector<ApplicableQuota> quotas;   // in policy order
    std::vector<MatchedVerdict> verdicts;  // content rules that matched, in policy order (monitor ones too)
    std::vector<PolicyTrace> trace;        // every policy, in evaluation order
    const Policy* stopped_by = nullptr;    // the exempt policy that ended evaluation for every recipient, if any
    // Headers unknown and an exempt policy with header conditions came first:
    // nothing after it is known yet (evaluation ended there, not at stopped_by).
    const Policy* undecided_from = nullptr;
};

// The quotas that apply to the message as described by `facts`. A policy with
// a recipient list applies when at least one recipient matches; evaluation
// runs per recipient, so an exempt policy stops later policies only for the
// recipients it matched. A quota whose tracked value is absent does not apply.
MessagePlan plan_message(const RuleSet& rules, const MessageFacts& facts);

// The quotas that apply to any message from this sender whatever its
// recipients: those that can refuse at MAIL FROM (guarantee 5). Only
// `messages` and `bytes` quotas of policies without recipient conditions, not
// preceded by an exempt policy that depends on recipients.
MessagePlan plan_at_mail(const RuleSet& rules, const MessageFacts& facts);

// The content rule that decides the message, if any: the first matched
// enforce-mode verdict other than tag (reject, tempfail, quarantine,
// discard). Tag verdicts add their headers when the message is accepted.
const Policy* deciding_verdict(const MessagePlan& plan);

// Options of the overloads below. Without reasons, PolicyTrace::reason stays
// empty and nothing else changes (same quotas, matched flags, stopped_by);
// it saves the string building on the milter's per-RCPT hot path.
struct PlanOptions {
    bool with_reasons = true;
};
MessagePlan plan_message(const RuleSet& rules, const MessageFacts& facts, PlanOptions options);
MessagePlan plan_at_mail(const RuleSet& rules, const MessageFacts& facts, PlanOptions options);

}  // namespace quotamilter::rules
