// A policy's "quotas": each one a track, exactly one limit (messages,
// recipients or bytes, 1 to 2^53-1), a window (1s to 31d) and optionally a
// verdict, reply, code and xcode; prefix_v4/prefix_v6 only for client_net.
// What a quota leaves open it takes from "defaults" (rules/load_policies.cpp
// reads them), and an inherited code must agree with the quota's verdict.
// Two quotas of a policy may not share a counter (same track, unit, window).
#include "rules/load_context.h"

#include "rules/header_text.h"
#include "rules/keys.h"
#include "rules/units.h"

#include <tuple>

namespace quotamilter::rules::load_internal {

namespace {

constexpr std::uint64_t kMaxLimit = (std::uint64_t{1} << 53) - 1;  // exact in Lua/Redis doubles
constexpr std::int64_t kMaxWindowSeconds = 31 * 86400;

// The keys of one quota that are checked together once all are read.
struct QuotaKeys {
    std::set<std::string> seen;
    const JsonValue* limit_value = nullptr;
    std::string limit_key;
    const JsonValue* prefix_v4 = nullptr;
    const JsonValue* prefix_v6 = nullptr;
    const JsonValue* verdict_value = nullptr;
    SmtpCodes codes;
    bool has_track = false, has_window = false;
};

std::optional<Track> parse_track(std::string_view text) {
    static constexpr std::pair<std::string_view, Track> kTracks[] = {
        {"sender", Track::sender},       {"sender_domain", Track::sender_domain},
        {"sasl_user", Track::sasl_user}, {"client_ip", Track::client_ip},
        {"client_net", Track::client_net}, {"recipient", Track::recipient},
        {"recipient_domain", Track::recipient_domain}, {"policy", Track::policy}};
    for (const auto& [name, track] : kTracks) {
        if (text == name) return track;
    }
    return std::nullopt;
}

void load_track(LoadContext& context, const JsonValue& value, Quota& quota) {
    if (!context.expect_kind(value, Kind::string, "track")) return;
    if (auto track = parse_track(value.string)) {
        quota.track = *track;
    } else if (value.string.rfind("header:", 0) == 0) {
        const std::string name = value.string.substr(7);
        if (!is_valid_header_name(name)) {
            context.error(value.position, "track: " + in_quotes(value.string) +
                                              ": expected a header name after \"header:\" (1 to 128 printable characters, no ':' or blank), "
                                              "e.g. \"header:From\"");
        } else {
            quota.track = Track::header;
            quota.header_name = lower_ascii(name);
        }
    } else {
        context.error(value.position, "track: expected one of sender, sender_domain, sasl_user, client_ip, client_net, "
                                      "recipient, recipient_domain, policy, header:NAME; got " + in_quotes(value.string));
    }
}

std::optional<std::uint64_t> parse_limit(LoadContext& context, const JsonValue& value, std::string_view key) {
    if (value.kind == Kind::integer) {
        if (value.integer >= 1 && static_cast<std::uint64_t>(value.integer) <= kMaxLimit) {
            return static_cast<std::uint64_t>(value.integer);
        }
    } else if (key == "bytes" && value.kind == Kind::string) {
        if (auto size = parse_size(value.string); size && *size >= 1 && *size <= kMaxLimit) return size;
        context.error(value.position, "bytes: expected a positive size such as 10485760, \"10MB\" or \"1GiB\" (at most 2^53-1 bytes)");
        return std::nullopt;
    }
    context.error(value.position, std::string(key) + ": expected a positive integer (1 to 2^53-1)" +
                                      (key == "bytes" ? std::string(" or a size such as \"10MB\"") : std::string()));
    return std::nullopt;
}

std::optional<std::chrono::seconds> parse_window(LoadContext& context, const JsonValue& value) {
    std::optional<std::chrono::seconds> window;
    if (value.kind == Kind::integer) window = std::chrono::seconds(value.integer);
    else if (value.kind == Kind::string) window = parse_duration(value.string);
    if (!window) {
        context.error(value.position, "window: expected a duration such as \"90s\", \"30m\", \"1h\", \"1d\", \"1w\" or integer seconds");
        return std::nullopt;
    }
    if (window->count() < 1 || window->count() > kMaxWindowSeconds) {
        context.error(value.position, "window: " + (value.kind == Kind::string ? value.string : std::to_string(value.integer)) +
                                          " is out of range (expected 1s to 31d)");
        return std::nullopt;
    }
    return window;
}

void load_limit(LoadContext& context, const JsonMember& member, const JsonValue& value, Quota& quota, QuotaKeys& given) {
    if (given.limit_value) {
        context.error(member.key_position, "quota: " + in_quotes(member.key) + " and " + in_quotes(given.limit_key) +
                                               " together (expected exactly one of messages, recipients, bytes; use two quotas)");
        return;
    }
    given.limit_value = &value;
    given.limit_key = member.key;
    quota.unit = member.key == "messages" ? Unit::messages : member.key == "recipients" ? Unit::recipients : Unit::bytes;
    if (auto limit = parse_limit(context, value, member.key)) quota.limit = *limit;
}

// prefix_v4 (`max` 32) or prefix_v6 (`max` 128).
void load_prefix(LoadContext& context, const JsonMember& member, const JsonValue& value, int max, int& prefix) {
    if (value.kind == Kind::integer && value.integer >= 1 && value.integer <= max) prefix = static_cast<int>(value.integer);
    else context.error(value.position, member.key + ": expected an integer from 1 to " + std::to_string(max));
}

void load_quota_member(LoadContext& context, const JsonMember& member, const JsonValue& child, Quota& quota,
                       QuotaKeys& given) {
    if (member.key == "track") {
        given.has_track = true;
        load_track(context, child, quota);
    } else if (member.key == "messages" || member.key == "recipients" || member.key == "bytes") {
        load_limit(context, member, child, quota, given);
    } else if (member.key == "window") {
        given.has_window = true;
        if (auto window = parse_window(context, child)) quota.window = *window;
    } else if (member.key == "verdict") {
        given.verdict_value = &child;
        if (auto verdict = parse_quota_verdict(context, child)) quota.verdict = *verdict;
    } else if (member.key == "reply") {
        if (auto text = parse_reply_text(context, child)) quota.reply.text = *text;
    } else if (member.key == "code" || member.key == "xcode") {
        read_smtp_code(context, member.key, child, given.codes);
    } else if (member.key == "description") {
        if (auto text = context.get_string(child, "description")) quota.description = *text;
    } else if (member.key == "prefix_v4") {
        given.prefix_v4 = &child;
        load_prefix(context, member, child, 32, quota.prefix_v4);
    } else if (member.key == "prefix_v6") {
        given.prefix_v6 = &child;
        load_prefix(context, member, child, 128, quota.prefix_v6);
    }
}

// A missing key that was misspelled ("?key" in `seen`) is reported once, as the misspelling.
void check_quota_keys(LoadContext& context, const JsonValue& value, const Quota& quota, const QuotaKeys& given) {
    const auto& seen = given.seen;
    if (!given.has_track && !seen.count("?track")) {
        context.error(value.position, "quota: missing key \"track\" (e.g. \"track\": \"sender\")");
    }
    if (!given.limit_value && !seen.count("?messages") && !seen.count("?recipients") && !seen.count("?bytes")) {
        context.error(value.position, "quota: missing limit (expected exactly one of messages, recipients, bytes)");
    }
    if (!given.has_window && !seen.count("?window")) {
        context.error(value.position, "quota: missing key \"window\" (e.g. \"window\": \"1h\")");
    }
    for (const JsonValue* prefix : {given.prefix_v4, given.prefix_v6}) {
        if (prefix && given.has_track && quota.track != Track::client_net) {
            context.error(prefix->position, "quota: prefix_v4/prefix_v6 only apply to \"track\": \"client_net\"");
        }
    }
}

// Defaults fill what the quota leaves open. `verdict_ok`: the quota has a
// verdict of its own and no error so far.
void inherit_defaults(LoadContext& context, Quota& quota, QuotaKeys& given, bool verdict_ok) {
    const Defaults& defaults = context.defaults;
    if (!given.verdict_value && defaults.verdict) quota.verdict = *defaults.verdict;
    if (!quota.reply.text && defaults.reply) quota.reply.text = defaults.reply;
    SmtpCodes& codes = given.codes;
    check_codes_agree(context, quota.verdict, codes, "quota");
    if (!codes.code && defaults.codes.code) {
        codes.code = defaults.codes.code;
        // defaults vs defaults was checked once; only this quota's own verdict can disagree here
        if (verdict_ok) check_inherited_code(context, quota.verdict, *codes.code, "code", given.verdict_value->position);
    }
    if (!codes.xcode && defaults.codes.xcode) {
        codes.xcode = defaults.codes.xcode;
        if (verdict_ok) check_inherited_code(context, quota.verdict, *codes.xcode, "xcode", given.verdict_value->position);
    }
    if (quota.verdict == Verdict::tempfail || quota.verdict == Verdict::reject) {
        quota.reply.code = codes.code;
        quota.reply.xcode = codes.xcode;
    }
}

bool load_quota(LoadContext& context, const JsonValue& value, Quota& quota) {
    if (!context.expect_kind(value, Kind::object, "quota")) return false;
    const std::size_t errors_before = context.errors.size();
    QuotaKeys given;
    for (const auto& [member, child] : value.members) {
        if (!context.accept_key(member, keys::quota, "quota", given.seen)) continue;
        load_quota_member(context, member, child, quota, given);
    }
    check_quota_keys(context, value, quota, given);
    const bool verdict_ok = given.verdict_value && context.errors.size() == errors_before;
    inherit_defaults(context, quota, given, verdict_ok);
    return context.errors.size() == errors_before;
}

}  // namespace

void load_quotas(LoadContext& context, const JsonValue& value, Policy& policy) {
    if (!context.expect_kind(value, Kind::array, "quotas")) return;
    if (value.items.empty()) {
        context.error(value.position, "quotas: expected at least one quota (or \"exempt\": true)");
        return;
    }
    // (track label, unit, window) -> position of the first quota: they would share a counter.
    std::map<std::tuple<std::string, Unit, std::int64_t>, TextPosition> counters;
    for (const JsonValue& entry : value.items) {
        Quota quota;
        if (!load_quota(context, entry, quota)) continue;
        std::string label = quota.track_label();
        if (quota.track == Track::client_net) label += "/" + std::to_string(quota.prefix_v4) + "/" + std::to_string(quota.prefix_v6);
        auto [previous, inserted] = counters.emplace(std::make_tuple(label, quota.unit, quota.window.count()), entry.position);
        if (!inserted) {
            context.error(entry.position, "quota: same track " + in_quotes(quota.track_label()) + ", unit " +
                                              in_quotes(to_string(quota.unit)) + " and window " + format_duration(quota.window) +
                                              " as the quota at line " + std::to_string(previous->second.line) +
                                              " (they would share one counter)");
            continue;
        }
        policy.quotas.push_back(std::move(quota));
    }
}

}  // namespace quotamilter::rules::load_internal
