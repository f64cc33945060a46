// The loaded, validated form of a rule file (docs/spec/rules-v1.md).
// Produced only by load_rules(); everything here is already checked, so the
// milter never has to re-validate.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace quotamilter::rules {

enum class Track { sender, sender_domain, sasl_user, client_ip, client_net, recipient, recipient_domain, policy, header };
enum class Unit { messages, recipients, bytes };
enum class Verdict { tempfail, reject, quarantine, discard, tag };
enum class Mode { enforce, monitor };
// SMTP stages in the order they happen (rules/stage_plan.h says what acts where).
enum class Stage { mail, rcpt, end_of_headers, end_of_message };

std::string_view to_string(Track);
std::string_view to_string(Unit);
std::string_view to_string(Verdict);
std::string_view to_string(Mode);

// Optional overrides of the SMTP reply; unset parts take the verdict's default
// (451 4.7.1 for tempfail, 550 5.7.1 for reject).
struct ReplySpec {
    std::optional<std::string> code;   // "451", "550", ...
    std::optional<std::string> xcode;  // "4.7.1", ...
    std::optional<std::string> text;   // template with {policy} {track} {key} {count} {limit} {window} {retry_after}
};

struct Quota {
    Track track = Track::sender;
    std::string header_name;           // only for Track::header ("from" for "header:From"), lower case
    int prefix_v4 = 24;                // only for Track::client_net
    int prefix_v6 = 64;
    Unit unit = Unit::messages;
    std::uint64_t limit = 0;           // > 0
    std::chrono::seconds window{0};    // 1 s .. 31 d
    Verdict verdict = Verdict::tempfail;
    ReplySpec reply;
    std::string description;

    // "sender", "client_net", "header:from": the track as it appears in keys and logs
    std::string track_label() const;
};

class PolicyMatch;  // defined in rules/match.h: the compiled match lists

struct Policy {
    std::string name;
    int priority = 100;
    std::size_t file_order = 0;        // position in the file, breaks priority ties
    Mode mode = Mode::enforce;
    bool exempt = false;
    std::vector<Quota> quotas;
    std::optional<Verdict> verdict;    // content rule; unset for quota/exempt policies
    ReplySpec reply;                   // with `verdict` reject/tempfail
    std::string tag_header_name;       // with `verdict` tag: "X-Quota-Policy" unless tag_header says otherwise
    std::string tag_header_value;      // the policy name unless tag_header says otherwise
    std::string description;
    std::shared_ptr<const PolicyMatch> match;  // never null after loading
    // With `verdict`: the stage at which it acts in SMTP mail (rules/stage_plan.h),
    // set by the loader once the policies are in order.
    Stage verdict_stage = Stage::end_of_message;
};

// The counter a quota keeps for each tracked value: one identity for the
// milter's store requests, explain, status/reset and the Redis key
// (qm:{VALUE}:POLICY:TRACK:UNIT:WINDOWs, docs/STORE.md).
struct CounterName {
    std::string policy;
    std::string track;                 // Quota::track_label()
    std::string unit;                  // "messages" | "recipients" | "bytes"
    std::uint32_t window_seconds = 0;

    std::string str() const;           // "user1_ratelimit/sender/messages/1800s", as explain prints it
};
CounterName counter_name(const Policy& policy, const Quota& quota);

struct RuleSet {
    std::string source;                // file the rules came from
    std::string description;
    std::vector<Policy> policies;      // sorted: priority, then file order

    bool needs_body() const;           // some quota counts bytes
    // Some policy has header conditions or counts per header. A content rule
    // on envelope conditions alone needs no headers: it is decided at end of
    // message, and the MTA need not send headers and end of headers.
    bool needs_headers() const;
    bool needs_tagging() const;        // some policy's verdict is tag (the milter adds a header)
    // Lower-case names of every header some condition or track uses: the
    // only ones the milter keeps.
    std::vector<std::string> header_names() const;
};

}  // namespace quotamilter::rules
