// The stage plan (rules/stage_plan.h): one answer to "what can act where".
#include "rules/stage_plan.h"

#include "rules/match.h"

#include <algorithm>

namespace quotamilter::rules {
namespace {

bool refuses(Verdict verdict) { return verdict == Verdict::reject || verdict == Verdict::tempfail; }

bool has_header_conditions(const Policy& policy) { return policy.match && !policy.match->headers.empty(); }
bool has_recipient_conditions(const Policy& policy) { return policy.match && policy.match->recipient.present; }

// The first stage at which every condition of `policy` is known.
Stage conditions_known_at(const Policy& policy) {
    if (has_header_conditions(policy)) return Stage::end_of_headers;
    if (has_recipient_conditions(policy)) return Stage::rcpt;
    return Stage::mail;
}

// A content rule that may decide the message instead of a later one.
bool may_decide(const Policy& policy) {
    return policy.verdict && policy.mode == Mode::enforce && *policy.verdict != Verdict::tag;
}

bool depends_on_recipients(const Quota& quota) {
    return quota.unit == Unit::recipients || quota.track == Track::recipient || quota.track == Track::recipient_domain;
}

}  // namespace

std::string_view stage_log_name(Stage stage) {
    switch (stage) {
        case Stage::mail: return "MAIL";
        case Stage::rcpt: return "RCPT";
        case Stage::end_of_headers: return "END-OF-HEADERS";
        case Stage::end_of_message: return "END-OF-MESSAGE";
    }
    return "END-OF-MESSAGE";
}

std::string_view stage_text(Stage stage) {
    switch (stage) {
        case Stage::mail: return "MAIL FROM";
        case Stage::rcpt: return "RCPT TO";
        case Stage::end_of_headers: return "end of headers";
        case Stage::end_of_message: return "end of message";
    }
    return "end of message";
}

bool refuses_before_data(const Policy& policy, const Quota& quota) {
    return policy.mode == Mode::enforce && refuses(quota.verdict);
}

std::uint64_t early_check_cost(const ApplicableQuota& quota) {
    if (quota.quota->unit == Unit::bytes) return std::max<std::uint64_t>(quota.cost, 1);
    return quota.cost;
}

std::vector<const ApplicableQuota*> early_checks(const MessagePlan& plan) {
    std::vector<const ApplicableQuota*> checks;
    for (const ApplicableQuota& quota : plan.quotas) {
        if (refuses_before_data(*quota.policy, *quota.quota) && early_check_cost(quota) > 0) checks.push_back(&quota);
    }
    return checks;
}

const Policy* verdict_acting_at(const MessagePlan& plan, Stage stage) {
    const Policy* decider = deciding_verdict(plan);
    if (!decider) return nullptr;
    if (stage == Stage::end_of_message) return decider;
    return refuses(*decider->verdict) && decider->verdict_stage <= stage ? decider : nullptr;
}

void drop_passed(std::vector<const ApplicableQuota*>& checks, const std::vector<PassedCheck>& passed) {
    std::erase_if(checks, [&](const ApplicableQuota* check) {
        const std::uint64_t cost = early_check_cost(*check);
        return std::any_of(passed.begin(), passed.end(), [&](const PassedCheck& known) {
            return known.quota == check->quota && known.cost >= cost && known.tracked_value == check->tracked_value;
        });
    });
}

void remember_passed(std::vector<PassedCheck>& passed, const std::vector<const ApplicableQuota*>& checks) {
    for (const ApplicableQuota* check : checks)
        passed.push_back(PassedCheck{check->quota, check->tracked_value, early_check_cost(*check)});
}

StageDecision decide_at(const RuleSet& rules, const MessageFacts& facts, Stage stage, PlanOptions options) {
    StageDecision decision;
    decision.plan = stage == Stage::mail ? plan_at_mail(rules, facts, options) : plan_message(rules, facts, options);
    decision.verdict = verdict_acting_at(decision.plan, stage);
    if (!decision.verdict && (stage == Stage::mail || stage == Stage::rcpt)) decision.checks = early_checks(decision.plan);
    return decision;
}

void assign_verdict_stages(RuleSet& rules) {
    // A refusing content rule acts once its own conditions are known and those
    // of every content rule before it that could decide instead.
    Stage known_before = Stage::mail;
    for (Policy& policy : rules.policies) {
        if (!policy.verdict) continue;
        const Stage own = conditions_known_at(policy);
        policy.verdict_stage = may_decide(policy) && refuses(*policy.verdict) ? std::max(own, known_before)
                                                                              : Stage::end_of_message;
        if (may_decide(policy)) known_before = std::max(known_before, own);
    }
}

StageNeeds stage_needs(const RuleSet& rules) {
    StageNeeds needs;
    needs.header_values = rules.needs_headers();
    needs.body = rules.needs_body();
    needs.tagging = rules.needs_tagging();
    bool early_quota = false;  // some quota can refuse at an early check
    for (const Policy& policy : rules.policies) {
        if (has_recipient_conditions(policy)) needs.recipients = true;
        if (may_decide(policy) && refuses(*policy.verdict)) {
            if (policy.verdict_stage == Stage::mail) needs.mail_may_refuse = true;
            if (policy.verdict_stage <= Stage::rcpt) needs.rcpt_may_refuse = true;
            if (policy.verdict_stage == Stage::end_of_headers) needs.end_of_headers = true;
        }
        for (const Quota& quota : policy.quotas) {
            if (depends_on_recipients(quota)) needs.recipients = true;
            // Header conditions and header tracks are unknown before DATA.
            if (!refuses_before_data(policy, quota) || has_header_conditions(policy) || quota.track == Track::header)
                continue;
            early_quota = true;
            if (!has_recipient_conditions(policy) && !depends_on_recipients(quota)) needs.mail_may_refuse = true;
        }
    }
    if (early_quota) needs.rcpt_may_refuse = true;
    // Without a rule that depends on recipients, RCPT TO can change nothing:
    // the MAIL FROM check already asked every quota what RCPT would ask.
    if (!needs.recipients) needs.rcpt_may_refuse = false;
    return needs;
}

}  // namespace quotamilter::rules
