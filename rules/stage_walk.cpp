// The stage walk (rules/stage_walk.h): the milter's order of events.
#include "rules/stage_walk.h"

namespace quotamilter::rules {
namespace {

constexpr PlanOptions kNoReasons{.with_reasons = false};

StageStep content_step(const Policy& policy, Stage stage, std::optional<std::size_t> recipient = std::nullopt) {
    StageStep step;
    step.kind = StageStep::Kind::content;
    step.stage = stage;
    step.recipient = recipient;
    step.policy = &policy;
    return step;
}

StageStep quota_step(StageStep::Kind kind, const ApplicableQuota& quota, Stage stage, std::uint64_t cost,
                     std::optional<std::size_t> recipient = std::nullopt) {
    StageStep step;
    step.kind = kind;
    step.stage = stage;
    step.recipient = recipient;
    step.policy = quota.policy;
    step.quota = quota.quota;
    step.tracked_value = quota.tracked_value;
    step.cost = cost;
    return step;
}

// MAIL FROM and RCPT TO. False when the message ends before DATA.
bool walk_envelope(const RuleSet& rules, const MessageFacts& facts, MessageFacts& known, std::vector<StageStep>& steps) {
    std::vector<PassedCheck> passed;
    StageDecision at_mail = decide_at(rules, known, Stage::mail, kNoReasons);
    if (at_mail.verdict) {
        steps.push_back(content_step(*at_mail.verdict, Stage::mail));
        return false;
    }
    for (const ApplicableQuota* check : at_mail.checks)
        steps.push_back(quota_step(StageStep::Kind::check, *check, Stage::mail, early_check_cost(*check)));
    remember_passed(passed, at_mail.checks);

    for (std::size_t i = 0; i < facts.recipients.size(); ++i) {
        known.recipients.push_back(facts.recipients[i]);
        StageDecision at_rcpt = decide_at(rules, known, Stage::rcpt, kNoReasons);
        if (at_rcpt.verdict) {
            steps.push_back(content_step(*at_rcpt.verdict, Stage::rcpt, i));
            known.recipients.pop_back();  // that recipient is refused, the others go on
            continue;
        }
        drop_passed(at_rcpt.checks, passed);
        for (const ApplicableQuota* check : at_rcpt.checks)
            steps.push_back(quota_step(StageStep::Kind::check, *check, Stage::rcpt, early_check_cost(*check), i));
        remember_passed(passed, at_rcpt.checks);
    }
    return !known.recipients.empty();  // no recipient left: no DATA
}

void walk_end_of_message(const RuleSet& rules, const MessageFacts& known, std::vector<StageStep>& steps) {
    const StageDecision at_end = decide_at(rules, known, Stage::end_of_message, kNoReasons);
    for (const MatchedVerdict& matched : at_end.plan.verdicts) {  // logged "would ..." first, whatever follows
        if (matched.policy->mode != Mode::monitor) continue;
        StageStep step = content_step(*matched.policy, Stage::end_of_message);
        step.kind = StageStep::Kind::monitor;
        steps.push_back(step);
    }
    // Refusals and discards come before any charge; a hold after it.
    if (at_end.verdict && *at_end.verdict->verdict != Verdict::quarantine) {
        steps.push_back(content_step(*at_end.verdict, Stage::end_of_message));
        return;
    }
    for (const ApplicableQuota& quota : at_end.plan.quotas) {
        if (quota.cost == 0) continue;
        const bool monitor = quota.policy->mode == Mode::monitor;
        steps.push_back(quota_step(monitor ? StageStep::Kind::monitor : StageStep::Kind::charge, quota,
                                   Stage::end_of_message, quota.cost));
    }
    if (at_end.verdict) steps.push_back(content_step(*at_end.verdict, Stage::end_of_message));
    for (const MatchedVerdict& matched : at_end.plan.verdicts) {
        if (matched.policy->mode != Mode::enforce || matched.policy->verdict != Verdict::tag) continue;
        StageStep step = content_step(*matched.policy, Stage::end_of_message);
        step.kind = StageStep::Kind::tag;
        steps.push_back(step);
    }
}

}  // namespace

bool acts_when_full(const StageStep& step) {
    return step.kind != StageStep::Kind::monitor && step.kind != StageStep::Kind::tag;
}

std::vector<StageStep> stage_steps(const RuleSet& rules, const MessageFacts& facts) {
    std::vector<StageStep> steps;
    // What the milter knows at MAIL FROM: the envelope so far, SIZE= if given.
    MessageFacts known = facts;
    known.recipients.clear();
    known.headers.clear();
    known.headers_known = false;
    if (!walk_envelope(rules, facts, known, steps)) return steps;
    if (facts.headers_known) {
        known.headers = facts.headers;
        known.headers_known = true;
        const StageDecision at_headers = decide_at(rules, known, Stage::end_of_headers, kNoReasons);
        if (at_headers.verdict) {
            steps.push_back(content_step(*at_headers.verdict, Stage::end_of_headers));
            return steps;
        }
    }
    walk_end_of_message(rules, known, steps);
    return steps;
}

}  // namespace quotamilter::rules
