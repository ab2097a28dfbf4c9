WITH "t13" AS (
  SELECT
    "t12"."month",
    "t12"."subscriber_id",
    "t12"."customer_id",
    "t12"."account_id",
    "t12"."phone",
    "t12"."name",
    "t12"."id_number",
    "t12"."branch_id",
    "t12"."district",
    "t12"."line_type",
    "t12"."status",
    "t12"."is_free_account",
    "t12"."is_public_paid",
    "t12"."is_dedicated_line",
    "t12"."do_not_disturb",
    "t12"."credit_list",
    "t12"."payment_type",
    "t12"."group_payment_amount",
    "t12"."activation_date",
    "t12"."contract_type",
    "t12"."contract_start",
    "t12"."contract_end",
    "t12"."package_name",
    "t12"."package_fee",
    "t12"."is_converged",
    "t12"."arpu",
    "t12"."voice_minutes",
    "t12"."sms_mms_spend",
    "t12"."vas_spend",
    "t12"."data_mb",
    "t12"."zero_call_days",
    "t12"."bb_speed_mbps",
    "t12"."bb_online_hours",
    "t12"."has_iptv",
    "t12"."has_mobile_line",
    "t12"."handset_model",
    "t12"."handset_generation",
    "t12"."handset_smart",
    "t12"."handset_first_use_date",
    "t12"."vip_level",
    "t12"."annual_spend",
    "t12"."snapshot_midhigh",
    "t12"."group_id",
    "t12"."complaints",
    "t12"."competitor_contacts",
    "t12"."dual_competitor",
    "t12"."satisfaction_score",
    "t12"."complaints_3m",
    "t12"."dropped_call_rate",
    "t12"."weak_coverage_share",
    "t12"."nps_score",
    "t12"."history_months",
    "t12"."arpu_3m",
    "t12"."arpu_prev3",
    "t12"."arpu_drop_pct",
    "t12"."voice_minutes_3m",
    "t12"."minutes_drop_pct",
    "t12"."data_mb_3m",
    "t12"."vas_total",
    "t12"."vas_3m",
    "t12"."bb_hours_3m",
    "t12"."online_drop_pct",
    "t12"."days_to_contract_end",
    "t12"."months_to_contract_end",
    "t12"."tenure_days",
    "t12"."tenure_months",
    "t12"."handset_age_years",
    "t12"."annual_spend_est",
    "t12"."group_handset_count",
    "t12"."group_industry",
    "t12"."group_top500",
    "t12"."group_annual_spend",
    CASE
      WHEN COALESCE(COALESCE("t12"."is_free_account", FALSE), FALSE)
      THEN 'free_account'
      WHEN COALESCE(COALESCE("t12"."is_public_paid", FALSE), FALSE)
      THEN 'public_paid'
      WHEN COALESCE(COALESCE("t12"."line_type" = 'data_card', FALSE), FALSE)
      THEN 'data_card'
      WHEN COALESCE(COALESCE("t12"."line_type" = 'payphone', FALSE), FALSE)
      THEN 'payphone'
      WHEN COALESCE(COALESCE("t12"."line_type" = 'iot', FALSE), FALSE)
      THEN 'iot'
      WHEN COALESCE(NOT (
        COALESCE("t12"."line_type" IN ('mobile', 'broadband'), FALSE)
      ), FALSE)
      THEN 'not_segmented'
      WHEN COALESCE(
        COALESCE("t12"."line_type" = 'broadband', FALSE)
        AND COALESCE("t12"."is_dedicated_line", FALSE),
        FALSE
      )
      THEN 'dedicated_line'
      WHEN COALESCE(COALESCE("t12"."status" <> 'active', FALSE), FALSE)
      THEN 'abnormal_status'
      WHEN COALESCE(
        (
          "t12"."tenure_months" IS NULL
        )
        OR COALESCE("t12"."tenure_months" < 3.0, FALSE),
        FALSE
      )
      THEN 'short_tenure'
      WHEN COALESCE(COALESCE("t12"."credit_list" IN ('red', 'black'), FALSE), FALSE)
      THEN 'red_black_list'
      WHEN COALESCE(COALESCE("t12"."do_not_disturb", FALSE), FALSE)
      THEN 'do_not_disturb'
      ELSE CAST(NULL AS TEXT)
    END AS "exclusion_reason"
  FROM (
    SELECT
      "t11"."month",
      "t11"."subscriber_id",
      "t11"."customer_id",
      "t11"."account_id",
      "t11"."phone",
      "t11"."name",
      "t11"."id_number",
      "t11"."branch_id",
      "t11"."district",
      "t11"."line_type",
      "t11"."status",
      "t11"."is_free_account",
      "t11"."is_public_paid",
      "t11"."is_dedicated_line",
      "t11"."do_not_disturb",
      "t11"."credit_list",
      "t11"."payment_type",
      "t11"."group_payment_amount",
      "t11"."activation_date",
      "t11"."contract_type",
      "t11"."contract_start",
      "t11"."contract_end",
      "t11"."package_name",
      "t11"."package_fee",
      "t11"."is_converged",
      "t11"."arpu",
      "t11"."voice_minutes",
      "t11"."sms_mms_spend",
      "t11"."vas_spend",
      "t11"."data_mb",
      "t11"."zero_call_days",
      "t11"."bb_speed_mbps",
      "t11"."bb_online_hours",
      "t11"."has_iptv",
      "t11"."has_mobile_line",
      "t11"."handset_model",
      "t11"."handset_generation",
      "t11"."handset_smart",
      "t11"."handset_first_use_date",
      "t11"."vip_level",
      "t11"."annual_spend",
      "t11"."snapshot_midhigh",
      "t11"."group_id",
      "t11"."complaints",
      "t11"."competitor_contacts",
      "t11"."dual_competitor",
      "t11"."satisfaction_score",
      "t11"."complaints_3m",
      "t11"."dropped_call_rate",
      "t11"."weak_coverage_share",
      "t11"."nps_score",
      "t11"."history_months",
      "t11"."arpu_3m",
      "t11"."arpu_prev3",
      "t11"."arpu_drop_pct",
      "t11"."voice_minutes_3m",
      "t11"."minutes_drop_pct",
      "t11"."data_mb_3m",
      "t11"."vas_total",
      "t11"."vas_3m",
      "t11"."bb_hours_3m",
      "t11"."online_drop_pct",
      "t11"."days_to_contract_end",
      "t11"."months_to_contract_end",
      "t11"."tenure_days",
      "t11"."tenure_months",
      "t11"."handset_age_years",
      "t11"."annual_spend_est",
      "t3"."group_handset_count",
      "t3"."group_industry",
      "t3"."group_top500",
      "t3"."group_annual_spend"
    FROM (
      SELECT
        "t9"."month",
        "t9"."subscriber_id",
        "t9"."customer_id",
        "t9"."account_id",
        "t9"."phone",
        "t9"."name",
        "t9"."id_number",
        "t9"."branch_id",
        "t9"."district",
        "t9"."line_type",
        "t9"."status",
        "t9"."is_free_account",
        "t9"."is_public_paid",
        "t9"."is_dedicated_line",
        "t9"."do_not_disturb",
        "t9"."credit_list",
        "t9"."payment_type",
        "t9"."group_payment_amount",
        "t9"."activation_date",
        "t9"."contract_type",
        "t9"."contract_start",
        "t9"."contract_end",
        "t9"."package_name",
        "t9"."package_fee",
        "t9"."is_converged",
        "t9"."arpu",
        "t9"."voice_minutes",
        "t9"."sms_mms_spend",
        "t9"."vas_spend",
        "t9"."data_mb",
        "t9"."zero_call_days",
        "t9"."bb_speed_mbps",
        "t9"."bb_online_hours",
        "t9"."has_iptv",
        "t9"."has_mobile_line",
        "t9"."handset_model",
        "t9"."handset_generation",
        "t9"."handset_smart",
        "t9"."handset_first_use_date",
        "t9"."vip_level",
        "t9"."annual_spend",
        "t9"."snapshot_midhigh",
        "t9"."group_id",
        "t9"."complaints",
        "t9"."competitor_contacts",
        "t9"."dual_competitor",
        "t9"."satisfaction_score",
        "t9"."complaints_3m",
        "t9"."dropped_call_rate",
        "t9"."weak_coverage_share",
        "t9"."nps_score",
        CAST("t9"."_arpu_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p3" IS NOT NULL AS BIGINT) AS "history_months",
        CAST(ROUND(
          (
            COALESCE("t9"."arpu", 0.0) + COALESCE("t9"."_arpu_p1", 0.0) + COALESCE("t9"."_arpu_p2", 0.0)
          ) / CAST(NULLIF(
            CAST("t9"."arpu" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p2" IS NOT NULL AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS "arpu_3m",
        CAST(ROUND(
          (
            COALESCE("t9"."_arpu_p1", 0.0) + COALESCE("t9"."_arpu_p2", 0.0) + COALESCE("t9"."_arpu_p3", 0.0)
          ) / CAST(NULLIF(
            CAST("t9"."_arpu_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p3" IS NOT NULL AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS "arpu_prev3",
        CASE
          WHEN CAST(ROUND(
            (
              COALESCE("t9"."_arpu_p1", 0.0) + COALESCE("t9"."_arpu_p2", 0.0) + COALESCE("t9"."_arpu_p3", 0.0)
            ) / CAST(NULLIF(
              CAST("t9"."_arpu_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p3" IS NOT NULL AS BIGINT),
              0
            ) AS DOUBLE),
            6
          ) AS DOUBLE) > 0
          THEN CAST(ROUND(
            (
              (
                CAST(ROUND(
                  (
                    COALESCE("t9"."_arpu_p1", 0.0) + COALESCE("t9"."_arpu_p2", 0.0) + COALESCE("t9"."_arpu_p3", 0.0)
                  ) / CAST(NULLIF(
                    CAST("t9"."_arpu_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p3" IS NOT NULL AS BIGINT),
                    0
                  ) AS DOUBLE),
                  6
                ) AS DOUBLE) - "t9"."arpu"
              ) * 100.0
            ) / CAST(ROUND(
              (
                COALESCE("t9"."_arpu_p1", 0.0) + COALESCE("t9"."_arpu_p2", 0.0) + COALESCE("t9"."_arpu_p3", 0.0)
              ) / CAST(NULLIF(
                CAST("t9"."_arpu_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p3" IS NOT NULL AS BIGINT),
                0
              ) AS DOUBLE),
              6
            ) AS DOUBLE),
            6
          ) AS DOUBLE)
          ELSE CAST(NULL AS DOUBLE)
        END AS "arpu_drop_pct",
        CAST(ROUND(
          (
            COALESCE("t9"."voice_minutes", 0.0) + COALESCE("t9"."_voice_minutes_p1", 0.0) + COALESCE("t9"."_voice_minutes_p2", 0.0)
          ) / CAST(NULLIF(
            CAST("t9"."voice_minutes" IS NOT NULL AS BIGINT) + CAST("t9"."_voice_minutes_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_voice_minutes_p2" IS NOT NULL AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS "voice_minutes_3m",
        CASE
          WHEN CAST(ROUND(
            (
              COALESCE("t9"."_voice_minutes_p1", 0.0) + COALESCE("t9"."_voice_minutes_p2", 0.0) + COALESCE("t9"."_voice_minutes_p3", 0.0)
            ) / CAST(NULLIF(
              CAST("t9"."_voice_minutes_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_voice_minutes_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_voice_minutes_p3" IS NOT NULL AS BIGINT),
              0
            ) AS DOUBLE),
            6
          ) AS DOUBLE) > 0
          THEN CAST(ROUND(
            (
              (
                CAST(ROUND(
                  (
                    COALESCE("t9"."_voice_minutes_p1", 0.0) + COALESCE("t9"."_voice_minutes_p2", 0.0) + COALESCE("t9"."_voice_minutes_p3", 0.0)
                  ) / CAST(NULLIF(
                    CAST("t9"."_voice_minutes_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_voice_minutes_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_voice_minutes_p3" IS NOT NULL AS BIGINT),
                    0
                  ) AS DOUBLE),
                  6
                ) AS DOUBLE) - "t9"."voice_minutes"
              ) * 100.0
            ) / CAST(ROUND(
              (
                COALESCE("t9"."_voice_minutes_p1", 0.0) + COALESCE("t9"."_voice_minutes_p2", 0.0) + COALESCE("t9"."_voice_minutes_p3", 0.0)
              ) / CAST(NULLIF(
                CAST("t9"."_voice_minutes_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_voice_minutes_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_voice_minutes_p3" IS NOT NULL AS BIGINT),
                0
              ) AS DOUBLE),
              6
            ) AS DOUBLE),
            6
          ) AS DOUBLE)
          ELSE CAST(NULL AS DOUBLE)
        END AS "minutes_drop_pct",
        CAST(ROUND(
          (
            COALESCE("t9"."data_mb", 0.0) + COALESCE("t9"."_data_mb_p1", 0.0) + COALESCE("t9"."_data_mb_p2", 0.0)
          ) / CAST(NULLIF(
            CAST("t9"."data_mb" IS NOT NULL AS BIGINT) + CAST("t9"."_data_mb_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_data_mb_p2" IS NOT NULL AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS "data_mb_3m",
        COALESCE("t9"."sms_mms_spend", 0) + COALESCE("t9"."vas_spend", 0) AS "vas_total",
        CAST(ROUND(
          (
            COALESCE(COALESCE("t9"."sms_mms_spend", 0) + COALESCE("t9"."vas_spend", 0), 0.0) + COALESCE("t9"."_vas_p1", 0.0) + COALESCE("t9"."_vas_p2", 0.0)
          ) / CAST(NULLIF(
            CAST((
              COALESCE("t9"."sms_mms_spend", 0) + COALESCE("t9"."vas_spend", 0)
            ) IS NOT NULL AS BIGINT) + CAST("t9"."_vas_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_vas_p2" IS NOT NULL AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS "vas_3m",
        CAST(ROUND(
          (
            COALESCE("t9"."bb_online_hours", 0.0) + COALESCE("t9"."_bb_hours_p1", 0.0) + COALESCE("t9"."_bb_hours_p2", 0.0)
          ) / CAST(NULLIF(
            CAST("t9"."bb_online_hours" IS NOT NULL AS BIGINT) + CAST("t9"."_bb_hours_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_bb_hours_p2" IS NOT NULL AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS "bb_hours_3m",
        CASE
          WHEN CAST(ROUND(
            (
              COALESCE("t9"."_bb_hours_p1", 0.0) + COALESCE("t9"."_bb_hours_p2", 0.0) + COALESCE("t9"."_bb_hours_p3", 0.0)
            ) / CAST(NULLIF(
              CAST("t9"."_bb_hours_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_bb_hours_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_bb_hours_p3" IS NOT NULL AS BIGINT),
              0
            ) AS DOUBLE),
            6
          ) AS DOUBLE) > 0
          THEN CAST(ROUND(
            (
              (
                CAST(ROUND(
                  (
                    COALESCE("t9"."_bb_hours_p1", 0.0) + COALESCE("t9"."_bb_hours_p2", 0.0) + COALESCE("t9"."_bb_hours_p3", 0.0)
                  ) / CAST(NULLIF(
                    CAST("t9"."_bb_hours_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_bb_hours_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_bb_hours_p3" IS NOT NULL AS BIGINT),
                    0
                  ) AS DOUBLE),
                  6
                ) AS DOUBLE) - "t9"."bb_online_hours"
              ) * 100.0
            ) / CAST(ROUND(
              (
                COALESCE("t9"."_bb_hours_p1", 0.0) + COALESCE("t9"."_bb_hours_p2", 0.0) + COALESCE("t9"."_bb_hours_p3", 0.0)
              ) / CAST(NULLIF(
                CAST("t9"."_bb_hours_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_bb_hours_p2" IS NOT NULL AS BIGINT) + CAST("t9"."_bb_hours_p3" IS NOT NULL AS BIGINT),
                0
              ) AS DOUBLE),
              6
            ) AS DOUBLE),
            6
          ) AS DOUBLE)
          ELSE CAST(NULL AS DOUBLE)
        END AS "online_drop_pct",
        DATE_DIFF('DAY', MAKE_DATE(2026, 3, 31), "t9"."contract_end") AS "days_to_contract_end",
        CAST(ROUND(
          CAST(DATE_DIFF('DAY', MAKE_DATE(2026, 3, 31), "t9"."contract_end") AS DOUBLE) / 30,
          6
        ) AS DOUBLE) AS "months_to_contract_end",
        DATE_DIFF('DAY', "t9"."activation_date", MAKE_DATE(2026, 3, 31)) AS "tenure_days",
        CAST(ROUND(
          CAST(DATE_DIFF('DAY', "t9"."activation_date", MAKE_DATE(2026, 3, 31)) AS DOUBLE) / 30,
          6
        ) AS DOUBLE) AS "tenure_months",
        CAST(ROUND(
          CAST(DATE_DIFF('DAY', "t9"."handset_first_use_date", MAKE_DATE(2026, 3, 31)) AS DOUBLE) / 365,
          6
        ) AS DOUBLE) AS "handset_age_years",
        COALESCE(
          "t9"."annual_spend",
          CAST(ROUND(
            CAST(ROUND(
              (
                COALESCE("t9"."arpu", 0.0) + COALESCE("t9"."_arpu_p1", 0.0) + COALESCE("t9"."_arpu_p2", 0.0)
              ) / CAST(NULLIF(
                CAST("t9"."arpu" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p1" IS NOT NULL AS BIGINT) + CAST("t9"."_arpu_p2" IS NOT NULL AS BIGINT),
                0
              ) AS DOUBLE),
              6
            ) AS DOUBLE) * 12.0,
            6
          ) AS DOUBLE)
        ) AS "annual_spend_est"
      FROM (
        SELECT
          "t6"."month",
          "t6"."subscriber_id",
          "t6"."customer_id",
          "t6"."account_id",
          "t6"."phone",
          "t6"."name",
          "t6"."id_number",
          "t6"."branch_id",
          "t6"."district",
          "t6"."line_type",
          "t6"."status",
          "t6"."is_free_account",
          "t6"."is_public_paid",
          "t6"."is_dedicated_line",
          "t6"."do_not_disturb",
          "t6"."credit_list",
          "t6"."payment_type",
          "t6"."group_payment_amount",
          "t6"."activation_date",
          "t6"."contract_type",
          "t6"."contract_start",
          "t6"."contract_end",
          "t6"."package_name",
          "t6"."package_fee",
          "t6"."is_converged",
          "t6"."arpu",
          "t6"."voice_minutes",
          "t6"."sms_mms_spend",
          "t6"."vas_spend",
          "t6"."data_mb",
          "t6"."zero_call_days",
          "t6"."bb_speed_mbps",
          "t6"."bb_online_hours",
          "t6"."has_iptv",
          "t6"."has_mobile_line",
          "t6"."handset_model",
          "t6"."handset_generation",
          "t6"."handset_smart",
          "t6"."handset_first_use_date",
          "t6"."vip_level",
          "t6"."annual_spend",
          "t6"."snapshot_midhigh",
          "t6"."group_id",
          "t6"."complaints",
          "t6"."competitor_contacts",
          "t6"."dual_competitor",
          "t6"."satisfaction_score",
          "t6"."complaints_3m",
          "t6"."dropped_call_rate",
          "t6"."weak_coverage_share",
          "t6"."nps_score",
          "t8"."_arpu_p1",
          "t8"."_arpu_p2",
          "t8"."_arpu_p3",
          "t8"."_voice_minutes_p1",
          "t8"."_voice_minutes_p2",
          "t8"."_voice_minutes_p3",
          "t8"."_data_mb_p1",
          "t8"."_data_mb_p2",
          "t8"."_data_mb_p3",
          "t8"."_vas_p1",
          "t8"."_vas_p2",
          "t8"."_vas_p3",
          "t8"."_bb_hours_p1",
          "t8"."_bb_hours_p2",
          "t8"."_bb_hours_p3"
        FROM (
          SELECT
            *
          FROM "snapshot" AS "t1"
          WHERE
            "t1"."month" = MAKE_DATE(2026, 3, 1)
        ) AS "t6"
        LEFT OUTER JOIN (
          SELECT
            "t5"."subscriber_id" AS "_sid",
            MAX(CASE WHEN "t5"."month" = MAKE_DATE(2026, 2, 1) THEN "t5"."arpu" ELSE NULL END) AS "_arpu_p1",
            MAX(CASE WHEN "t5"."month" = MAKE_DATE(2026, 1, 1) THEN "t5"."arpu" ELSE NULL END) AS "_arpu_p2",
            MAX(CASE WHEN "t5"."month" = MAKE_DATE(2025, 12, 1) THEN "t5"."arpu" ELSE NULL END) AS "_arpu_p3",
            MAX(
              CASE
                WHEN "t5"."month" = MAKE_DATE(2026, 2, 1)
                THEN "t5"."voice_minutes"
                ELSE NULL
              END
            ) AS "_voice_minutes_p1",
            MAX(
              CASE
                WHEN "t5"."month" = MAKE_DATE(2026, 1, 1)
                THEN "t5"."voice_minutes"
                ELSE NULL
              END
            ) AS "_voice_minutes_p2",
            MAX(
              CASE
                WHEN "t5"."month" = MAKE_DATE(2025, 12, 1)
                THEN "t5"."voice_minutes"
                ELSE NULL
              END
            ) AS "_voice_minutes_p3",
            MAX(CASE WHEN "t5"."month" = MAKE_DATE(2026, 2, 1) THEN "t5"."data_mb" ELSE NULL END) AS "_data_mb_p1",
            MAX(CASE WHEN "t5"."month" = MAKE_DATE(2026, 1, 1) THEN "t5"."data_mb" ELSE NULL END) AS "_data_mb_p2",
            MAX(
              CASE WHEN "t5"."month" = MAKE_DATE(2025, 12, 1) THEN "t5"."data_mb" ELSE NULL END
            ) AS "_data_mb_p3",
            MAX(
              CASE
                WHEN "t5"."month" = MAKE_DATE(2026, 2, 1)
                THEN COALESCE("t5"."sms_mms_spend", 0) + COALESCE("t5"."vas_spend", 0)
                ELSE NULL
              END
            ) AS "_vas_p1",
            MAX(
              CASE
                WHEN "t5"."month" = MAKE_DATE(2026, 1, 1)
                THEN COALESCE("t5"."sms_mms_spend", 0) + COALESCE("t5"."vas_spend", 0)
                ELSE NULL
              END
            ) AS "_vas_p2",
            MAX(
              CASE
                WHEN "t5"."month" = MAKE_DATE(2025, 12, 1)
                THEN COALESCE("t5"."sms_mms_spend", 0) + COALESCE("t5"."vas_spend", 0)
                ELSE NULL
              END
            ) AS "_vas_p3",
            MAX(
              CASE
                WHEN "t5"."month" = MAKE_DATE(2026, 2, 1)
                THEN "t5"."bb_online_hours"
                ELSE NULL
              END
            ) AS "_bb_hours_p1",
            MAX(
              CASE
                WHEN "t5"."month" = MAKE_DATE(2026, 1, 1)
                THEN "t5"."bb_online_hours"
                ELSE NULL
              END
            ) AS "_bb_hours_p2",
            MAX(
              CASE
                WHEN "t5"."month" = MAKE_DATE(2025, 12, 1)
                THEN "t5"."bb_online_hours"
                ELSE NULL
              END
            ) AS "_bb_hours_p3"
          FROM (
            SELECT
              *
            FROM "snapshot" AS "t1"
            WHERE
              "t1"."month" >= MAKE_DATE(2025, 12, 1) AND "t1"."month" <= MAKE_DATE(2026, 2, 1)
          ) AS "t5"
          GROUP BY
            1
        ) AS "t8"
          ON "t6"."subscriber_id" = "t8"."_sid"
      ) AS "t9"
    ) AS "t11"
    LEFT OUTER JOIN (
      SELECT
        "t0"."group_id" AS "_gid",
        "t0"."handset_count" AS "group_handset_count",
        "t0"."industry" AS "group_industry",
        "t0"."is_top500_taxpayer" AS "group_top500",
        "t0"."annual_spend" AS "group_annual_spend"
      FROM "enterprise_groups" AS "t0"
    ) AS "t3"
      ON "t11"."group_id" = "t3"."_gid"
  ) AS "t12"
)
SELECT
  "t24"."month",
  "t24"."subscriber_id",
  "t24"."customer_id",
  "t24"."branch_id",
  "t24"."line_type",
  "t24"."excluded",
  "t24"."exclusion_reason",
  "t24"."a",
  "t24"."b",
  "t24"."c",
  "t24"."d",
  "t24"."e",
  "t24"."f",
  "t24"."g",
  "t24"."h",
  "t24"."i",
  "t24"."stability_group",
  "t24"."code",
  CASE
    WHEN NOT (
      "t24"."excluded"
    )
    THEN CASE
      WHEN "t24"."stability_group" = 'A1-B1-C1'
      THEN 1
      WHEN "t24"."stability_group" = 'A1-B1-C2'
      THEN 2
      WHEN "t24"."stability_group" = 'A1-B1-C3'
      THEN 3
      WHEN "t24"."stability_group" = 'A1-B2-C1'
      THEN 4
      WHEN "t24"."stability_group" = 'A1-B2-C2'
      THEN 5
      WHEN "t24"."stability_group" = 'A1-B2-C3'
      THEN 6
      WHEN "t24"."stability_group" = 'A1-B3-C1'
      THEN 7
      WHEN "t24"."stability_group" = 'A1-B3-C2'
      THEN 8
      WHEN "t24"."stability_group" = 'A1-B3-C3'
      THEN 9
      WHEN "t24"."stability_group" = 'A1-B4-C1'
      THEN 10
      WHEN "t24"."stability_group" = 'A1-B4-C2'
      THEN 11
      WHEN "t24"."stability_group" = 'A1-B4-C3'
      THEN 12
      WHEN "t24"."stability_group" = 'A2-B1-C1'
      THEN 13
      WHEN "t24"."stability_group" = 'A2-B2-C1'
      THEN 14
      WHEN "t24"."stability_group" = 'A3-B1-C1'
      THEN 15
      WHEN "t24"."stability_group" = 'A3-B2-C1'
      THEN 16
      WHEN "t24"."stability_group" = 'A2-B1-C2'
      THEN 17
      WHEN "t24"."stability_group" = 'A2-B2-C2'
      THEN 18
      WHEN "t24"."stability_group" = 'A3-B1-C2'
      THEN 19
      WHEN "t24"."stability_group" = 'A3-B2-C2'
      THEN 20
      WHEN "t24"."stability_group" = 'A2-B3-C1'
      THEN 21
      WHEN "t24"."stability_group" = 'A2-B3-C2'
      THEN 22
      WHEN "t24"."stability_group" = 'A3-B3-C1'
      THEN 23
      WHEN "t24"."stability_group" = 'A3-B3-C2'
      THEN 24
      WHEN "t24"."stability_group" = 'A2-B1-C3'
      THEN 25
      WHEN "t24"."stability_group" = 'A2-B2-C3'
      THEN 26
      WHEN "t24"."stability_group" = 'A3-B1-C3'
      THEN 27
      WHEN "t24"."stability_group" = 'A3-B2-C3'
      THEN 28
      WHEN "t24"."stability_group" = 'A2-B4-C1'
      THEN 29
      WHEN "t24"."stability_group" = 'A2-B4-C2'
      THEN 30
      WHEN "t24"."stability_group" = 'A3-B4-C1'
      THEN 31
      WHEN "t24"."stability_group" = 'A3-B4-C2'
      THEN 32
      WHEN "t24"."stability_group" = 'A2-B3-C3'
      THEN 33
      WHEN "t24"."stability_group" = 'A2-B4-C3'
      THEN 34
      WHEN "t24"."stability_group" = 'A3-B3-C3'
      THEN 35
      WHEN "t24"."stability_group" = 'A3-B4-C3'
      THEN 36
      ELSE CAST(NULL AS INT)
    END
    ELSE CAST(NULL AS INT)
  END AS "priority_rank",
  CASE
    WHEN NOT (
      "t24"."excluded"
    )
    THEN CASE
      WHEN "t24"."stability_group" = 'A1-B1-C1'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B1-C2'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B1-C3'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B2-C1'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B2-C2'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B2-C3'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B3-C1'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B3-C2'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B3-C3'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B4-C1'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B4-C2'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A1-B4-C3'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A2-B1-C1'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A2-B2-C1'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A3-B1-C1'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A3-B2-C1'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A2-B1-C2'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A2-B2-C2'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A3-B1-C2'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A3-B2-C2'
      THEN 'red'
      WHEN "t24"."stability_group" = 'A2-B3-C1'
      THEN 'blue'
      WHEN "t24"."stability_group" = 'A2-B3-C2'
      THEN 'blue'
      WHEN "t24"."stability_group" = 'A3-B3-C1'
      THEN 'blue'
      WHEN "t24"."stability_group" = 'A3-B3-C2'
      THEN 'blue'
      WHEN "t24"."stability_group" = 'A2-B1-C3'
      THEN 'blue'
      WHEN "t24"."stability_group" = 'A2-B2-C3'
      THEN 'blue'
      WHEN "t24"."stability_group" = 'A3-B1-C3'
      THEN 'blue'
      WHEN "t24"."stability_group" = 'A3-B2-C3'
      THEN 'blue'
      WHEN "t24"."stability_group" = 'A2-B4-C1'
      THEN 'green'
      WHEN "t24"."stability_group" = 'A2-B4-C2'
      THEN 'green'
      WHEN "t24"."stability_group" = 'A3-B4-C1'
      THEN 'green'
      WHEN "t24"."stability_group" = 'A3-B4-C2'
      THEN 'green'
      WHEN "t24"."stability_group" = 'A2-B3-C3'
      THEN 'green'
      WHEN "t24"."stability_group" = 'A2-B4-C3'
      THEN 'green'
      WHEN "t24"."stability_group" = 'A3-B3-C3'
      THEN 'green'
      WHEN "t24"."stability_group" = 'A3-B4-C3'
      THEN 'green'
      ELSE CAST(NULL AS TEXT)
    END
    ELSE CAST(NULL AS TEXT)
  END AS "urgency",
  "t24"."vad",
  "t24"."vip_tier",
  "t24"."group_class",
  "t24"."value_class",
  "t24"."relationship",
  "t24"."credit",
  "t24"."satisfaction_band",
  CAST(NULL AS INT) AS "cluster",
  "t24"."arpu",
  "t24"."arpu_3m",
  "t24"."arpu_drop_pct",
  "t24"."minutes_drop_pct",
  "t24"."online_drop_pct",
  "t24"."voice_minutes_3m",
  "t24"."data_mb_3m",
  "t24"."vas_3m",
  "t24"."bb_hours_3m",
  "t24"."months_to_contract_end",
  "t24"."tenure_months",
  "t24"."handset_age_years"
FROM (
  SELECT
    "t23"."month",
    "t23"."subscriber_id",
    "t23"."customer_id",
    "t23"."account_id",
    "t23"."phone",
    "t23"."name",
    "t23"."id_number",
    "t23"."branch_id",
    "t23"."district",
    "t23"."line_type",
    "t23"."status",
    "t23"."is_free_account",
    "t23"."is_public_paid",
    "t23"."is_dedicated_line",
    "t23"."do_not_disturb",
    "t23"."credit_list",
    "t23"."payment_type",
    "t23"."group_payment_amount",
    "t23"."activation_date",
    "t23"."contract_type",
    "t23"."contract_start",
    "t23"."contract_end",
    "t23"."package_name",
    "t23"."package_fee",
    "t23"."is_converged",
    "t23"."arpu",
    "t23"."voice_minutes",
    "t23"."sms_mms_spend",
    "t23"."vas_spend",
    "t23"."data_mb",
    "t23"."zero_call_days",
    "t23"."bb_speed_mbps",
    "t23"."bb_online_hours",
    "t23"."has_iptv",
    "t23"."has_mobile_line",
    "t23"."handset_model",
    "t23"."handset_generation",
    "t23"."handset_smart",
    "t23"."handset_first_use_date",
    "t23"."vip_level",
    "t23"."annual_spend",
    "t23"."snapshot_midhigh",
    "t23"."group_id",
    "t23"."complaints",
    "t23"."competitor_contacts",
    "t23"."dual_competitor",
    "t23"."satisfaction_score",
    "t23"."complaints_3m",
    "t23"."dropped_call_rate",
    "t23"."weak_coverage_share",
    "t23"."nps_score",
    "t23"."history_months",
    "t23"."arpu_3m",
    "t23"."arpu_prev3",
    "t23"."arpu_drop_pct",
    "t23"."voice_minutes_3m",
    "t23"."minutes_drop_pct",
    "t23"."data_mb_3m",
    "t23"."vas_total",
    "t23"."vas_3m",
    "t23"."bb_hours_3m",
    "t23"."online_drop_pct",
    "t23"."days_to_contract_end",
    "t23"."months_to_contract_end",
    "t23"."tenure_days",
    "t23"."tenure_months",
    "t23"."handset_age_years",
    "t23"."annual_spend_est",
    "t23"."group_handset_count",
    "t23"."group_industry",
    "t23"."group_top500",
    "t23"."group_annual_spend",
    "t23"."exclusion_reason",
    "t23"."excluded",
    "t23"."a",
    "t23"."b",
    "t23"."c",
    "t23"."d",
    "t23"."e",
    "t23"."f",
    "t23"."g",
    "t23"."h",
    "t23"."i",
    "t23"."high_voice",
    "t23"."high_vas",
    "t23"."high_data",
    "t23"."vad",
    "t23"."vip_tier",
    "t23"."group_class",
    CASE
      WHEN COALESCE(COALESCE("t23"."line_type" IN ('mobile', 'broadband'), FALSE), FALSE)
      THEN CASE
        WHEN COALESCE(COALESCE("t23"."group_class" = 'A', FALSE), FALSE)
        THEN 'key'
        WHEN COALESCE(
          COALESCE("t23"."group_class" <> 'A', FALSE)
          AND COALESCE("t23"."b" IN ('B1', 'B2'), FALSE),
          FALSE
        )
        THEN 'vip'
        WHEN COALESCE(
          COALESCE("t23"."group_class" <> 'A', FALSE) AND COALESCE("t23"."b" = 'B3', FALSE),
          FALSE
        )
        THEN 'maintain'
        WHEN COALESCE(
          COALESCE("t23"."group_class" <> 'A', FALSE)
          AND COALESCE("t23"."b" = 'B4', FALSE)
          AND COALESCE("t23"."arpu_3m" >= (
            8.0 + (
              15.0 * "t23"."complaints"
            )
          ), FALSE),
          FALSE
        )
        THEN 'improve'
        WHEN COALESCE(
          COALESCE("t23"."group_class" <> 'A', FALSE)
          AND COALESCE("t23"."b" = 'B4', FALSE)
          AND COALESCE("t23"."arpu_3m" < (
            8.0 + (
              15.0 * "t23"."complaints"
            )
          ), FALSE),
          FALSE
        )
        THEN 'abandon'
        ELSE CAST(NULL AS TEXT)
      END
      ELSE CAST(NULL AS TEXT)
    END AS "value_class",
    CASE
      WHEN TRUE
      THEN CASE
        WHEN COALESCE(COALESCE("t23"."status" = 'cancelled', FALSE), FALSE)
        THEN 'churned'
        WHEN COALESCE(
          COALESCE("t23"."status" <> 'cancelled', FALSE)
          AND COALESCE("t23"."dual_competitor", FALSE),
          FALSE
        )
        THEN 'competitor_dual'
        ELSE 'current'
      END
      ELSE CAST(NULL AS TEXT)
    END AS "relationship",
    CASE
      WHEN TRUE
      THEN CASE
        WHEN COALESCE(COALESCE("t23"."credit_list" = 'red', FALSE), FALSE)
        THEN 'red'
        WHEN COALESCE(COALESCE("t23"."credit_list" = 'grey', FALSE), FALSE)
        THEN 'grey'
        WHEN COALESCE(COALESCE("t23"."credit_list" = 'black', FALSE), FALSE)
        THEN 'black'
        ELSE 'none'
      END
      ELSE CAST(NULL AS TEXT)
    END AS "credit",
    CASE
      WHEN TRUE
      THEN CASE
        WHEN COALESCE(COALESCE("t23"."satisfaction_score" >= 95, FALSE), FALSE)
        THEN 'S1'
        WHEN COALESCE(
          COALESCE(80 <= "t23"."satisfaction_score", FALSE)
          AND COALESCE("t23"."satisfaction_score" < 95, FALSE),
          FALSE
        )
        THEN 'S2'
        WHEN COALESCE(
          COALESCE(60 <= "t23"."satisfaction_score", FALSE)
          AND COALESCE("t23"."satisfaction_score" < 80, FALSE),
          FALSE
        )
        THEN 'S3'
        WHEN COALESCE(
          COALESCE(40 <= "t23"."satisfaction_score", FALSE)
          AND COALESCE("t23"."satisfaction_score" < 60, FALSE),
          FALSE
        )
        THEN 'S4'
        WHEN COALESCE(COALESCE("t23"."satisfaction_score" < 40, FALSE), FALSE)
        THEN 'S5'
        WHEN COALESCE("t23"."satisfaction_score" IS NULL, FALSE)
        THEN 'unknown'
        ELSE CAST(NULL AS TEXT)
      END
      ELSE CAST(NULL AS TEXT)
    END AS "satisfaction_band",
    "t23"."a" || '-' || "t23"."b" || '-' || "t23"."c" AS "stability_group",
    "t23"."a" || '-' || "t23"."b" || '-' || "t23"."c" || '/' || CASE
      WHEN "t23"."line_type" = 'mobile'
      THEN "t23"."d" || '-' || "t23"."e" || '-' || "t23"."f"
      WHEN "t23"."line_type" = 'broadband'
      THEN "t23"."g" || '-' || "t23"."h" || '-' || "t23"."i"
      ELSE CAST(NULL AS TEXT)
    END AS "code"
  FROM (
    SELECT
      "t22"."month",
      "t22"."subscriber_id",
      "t22"."customer_id",
      "t22"."account_id",
      "t22"."phone",
      "t22"."name",
      "t22"."id_number",
      "t22"."branch_id",
      "t22"."district",
      "t22"."line_type",
      "t22"."status",
      "t22"."is_free_account",
      "t22"."is_public_paid",
      "t22"."is_dedicated_line",
      "t22"."do_not_disturb",
      "t22"."credit_list",
      "t22"."payment_type",
      "t22"."group_payment_amount",
      "t22"."activation_date",
      "t22"."contract_type",
      "t22"."contract_start",
      "t22"."contract_end",
      "t22"."package_name",
      "t22"."package_fee",
      "t22"."is_converged",
      "t22"."arpu",
      "t22"."voice_minutes",
      "t22"."sms_mms_spend",
      "t22"."vas_spend",
      "t22"."data_mb",
      "t22"."zero_call_days",
      "t22"."bb_speed_mbps",
      "t22"."bb_online_hours",
      "t22"."has_iptv",
      "t22"."has_mobile_line",
      "t22"."handset_model",
      "t22"."handset_generation",
      "t22"."handset_smart",
      "t22"."handset_first_use_date",
      "t22"."vip_level",
      "t22"."annual_spend",
      "t22"."snapshot_midhigh",
      "t22"."group_id",
      "t22"."complaints",
      "t22"."competitor_contacts",
      "t22"."dual_competitor",
      "t22"."satisfaction_score",
      "t22"."complaints_3m",
      "t22"."dropped_call_rate",
      "t22"."weak_coverage_share",
      "t22"."nps_score",
      "t22"."history_months",
      "t22"."arpu_3m",
      "t22"."arpu_prev3",
      "t22"."arpu_drop_pct",
      "t22"."voice_minutes_3m",
      "t22"."minutes_drop_pct",
      "t22"."data_mb_3m",
      "t22"."vas_total",
      "t22"."vas_3m",
      "t22"."bb_hours_3m",
      "t22"."online_drop_pct",
      "t22"."days_to_contract_end",
      "t22"."months_to_contract_end",
      "t22"."tenure_days",
      "t22"."tenure_months",
      "t22"."handset_age_years",
      "t22"."annual_spend_est",
      "t22"."group_handset_count",
      "t22"."group_industry",
      "t22"."group_top500",
      "t22"."group_annual_spend",
      "t22"."exclusion_reason",
      "t22"."excluded",
      "t22"."a",
      "t22"."b",
      "t22"."c",
      "t22"."d",
      "t22"."e",
      "t22"."f",
      "t22"."g",
      "t22"."h",
      "t22"."i",
      "t22"."high_voice",
      "t22"."high_vas",
      "t22"."high_data",
      CASE
        WHEN COALESCE(
          NOT (
            COALESCE("t22"."excluded", FALSE)
          )
          AND COALESCE("t22"."line_type" = 'mobile', FALSE)
          AND COALESCE("t22"."b" IN ('B1', 'B2'), FALSE),
          FALSE
        )
        THEN CASE
          WHEN COALESCE(
            COALESCE("t22"."high_voice", FALSE)
            AND COALESCE("t22"."high_vas", FALSE)
            AND COALESCE("t22"."high_data", FALSE),
            FALSE
          )
          THEN 'VAD'
          WHEN COALESCE(
            COALESCE("t22"."high_voice", FALSE)
            AND NOT (
              COALESCE("t22"."high_vas", FALSE)
            )
            AND COALESCE("t22"."high_data", FALSE),
            FALSE
          )
          THEN 'VD'
          WHEN COALESCE(
            COALESCE("t22"."high_voice", FALSE)
            AND COALESCE("t22"."high_vas", FALSE)
            AND NOT (
              COALESCE("t22"."high_data", FALSE)
            ),
            FALSE
          )
          THEN 'VA'
          WHEN COALESCE(
            COALESCE("t22"."high_voice", FALSE)
            AND NOT (
              COALESCE("t22"."high_vas", FALSE)
            )
            AND NOT (
              COALESCE("t22"."high_data", FALSE)
            ),
            FALSE
          )
          THEN 'V'
          WHEN COALESCE(
            NOT (
              COALESCE("t22"."high_voice", FALSE)
            )
            AND COALESCE("t22"."high_vas", FALSE)
            AND COALESCE("t22"."high_data", FALSE),
            FALSE
          )
          THEN 'AD'
          WHEN COALESCE(
            NOT (
              COALESCE("t22"."high_voice", FALSE)
            )
            AND NOT (
              COALESCE("t22"."high_vas", FALSE)
            )
            AND COALESCE("t22"."high_data", FALSE),
            FALSE
          )
          THEN 'D'
          WHEN COALESCE(
            NOT (
              COALESCE("t22"."high_voice", FALSE)
            )
            AND COALESCE("t22"."high_vas", FALSE)
            AND NOT (
              COALESCE("t22"."high_data", FALSE)
            ),
            FALSE
          )
          THEN 'A'
          WHEN COALESCE(
            NOT (
              COALESCE("t22"."high_voice", FALSE)
            )
            AND NOT (
              COALESCE("t22"."high_vas", FALSE)
            )
            AND NOT (
              COALESCE("t22"."high_data", FALSE)
            ),
            FALSE
          )
          THEN 'NVAD'
          ELSE CAST(NULL AS TEXT)
        END
        ELSE CAST(NULL AS TEXT)
      END AS "vad",
      CASE
        WHEN TRUE
        THEN CASE
          WHEN COALESCE(COALESCE("t22"."annual_spend_est" >= 3000.0, FALSE), FALSE)
          THEN 'diamond'
          WHEN COALESCE(
            COALESCE(1500.0 <= "t22"."annual_spend_est", FALSE)
            AND COALESCE("t22"."annual_spend_est" < 3000.0, FALSE),
            FALSE
          )
          THEN 'gold'
          WHEN COALESCE(
            COALESCE(666.0 <= "t22"."annual_spend_est", FALSE)
            AND COALESCE("t22"."annual_spend_est" < 1500.0, FALSE),
            FALSE
          )
          THEN 'silver'
          ELSE 'none'
        END
        ELSE CAST(NULL AS TEXT)
      END AS "vip_tier",
      CASE
        WHEN TRUE
        THEN CASE
          WHEN COALESCE(
            (
              "t22"."group_id" IS NOT NULL
            )
            AND (
              COALESCE("t22"."group_handset_count" >= 500.0, FALSE)
              OR COALESCE("t22"."group_annual_spend" >= 1000000.0, FALSE)
              OR COALESCE("t22"."group_top500", FALSE)
              OR COALESCE(
                "t22"."group_industry" IN (
                  'government',
                  'military',
                  'media',
                  'telecom',
                  'post',
                  'bank',
                  'power',
                  'water',
                  'gas',
                  'roads',
                  'airports',
                  'railways'
                ),
                FALSE
              )
            ),
            FALSE
          )
          THEN 'A'
          WHEN COALESCE(
            (
              "t22"."group_id" IS NOT NULL
            )
            AND NOT (
              COALESCE("t22"."group_handset_count" >= 500.0, FALSE)
              OR COALESCE("t22"."group_annual_spend" >= 1000000.0, FALSE)
              OR COALESCE("t22"."group_top500", FALSE)
              OR COALESCE(
                "t22"."group_industry" IN (
                  'government',
                  'military',
                  'media',
                  'telecom',
                  'post',
                  'bank',
                  'power',
                  'water',
                  'gas',
                  'roads',
                  'airports',
                  'railways'
                ),
                FALSE
              )
            )
            AND (
              COALESCE("t22"."group_handset_count" >= 100.0, FALSE)
              OR COALESCE("t22"."group_industry" IN ('securities', 'insurance'), FALSE)
            ),
            FALSE
          )
          THEN 'B'
          WHEN COALESCE(
            (
              "t22"."group_id" IS NOT NULL
            )
            AND NOT (
              COALESCE("t22"."group_handset_count" >= 500.0, FALSE)
              OR COALESCE("t22"."group_annual_spend" >= 1000000.0, FALSE)
              OR COALESCE("t22"."group_top500", FALSE)
              OR COALESCE(
                "t22"."group_industry" IN (
                  'government',
                  'military',
                  'media',
                  'telecom',
                  'post',
                  'bank',
                  'power',
                  'water',
                  'gas',
                  'roads',
                  'airports',
                  'railways'
                ),
                FALSE
              )
            )
            AND NOT (
              COALESCE("t22"."group_handset_count" >= 100.0, FALSE)
              OR COALESCE("t22"."group_industry" IN ('securities', 'insurance'), FALSE)
            ),
            FALSE
          )
          THEN 'C'
          WHEN COALESCE("t22"."group_id" IS NULL, FALSE)
          THEN 'none'
          ELSE CAST(NULL AS TEXT)
        END
        ELSE CAST(NULL AS TEXT)
      END AS "group_class"
    FROM (
      SELECT
        "t16"."month",
        "t16"."subscriber_id",
        "t16"."customer_id",
        "t16"."account_id",
        "t16"."phone",
        "t16"."name",
        "t16"."id_number",
        "t16"."branch_id",
        "t16"."district",
        "t16"."line_type",
        "t16"."status",
        "t16"."is_free_account",
        "t16"."is_public_paid",
        "t16"."is_dedicated_line",
        "t16"."do_not_disturb",
        "t16"."credit_list",
        "t16"."payment_type",
        "t16"."group_payment_amount",
        "t16"."activation_date",
        "t16"."contract_type",
        "t16"."contract_start",
        "t16"."contract_end",
        "t16"."package_name",
        "t16"."package_fee",
        "t16"."is_converged",
        "t16"."arpu",
        "t16"."voice_minutes",
        "t16"."sms_mms_spend",
        "t16"."vas_spend",
        "t16"."data_mb",
        "t16"."zero_call_days",
        "t16"."bb_speed_mbps",
        "t16"."bb_online_hours",
        "t16"."has_iptv",
        "t16"."has_mobile_line",
        "t16"."handset_model",
        "t16"."handset_generation",
        "t16"."handset_smart",
        "t16"."handset_first_use_date",
        "t16"."vip_level",
        "t16"."annual_spend",
        "t16"."snapshot_midhigh",
        "t16"."group_id",
        "t16"."complaints",
        "t16"."competitor_contacts",
        "t16"."dual_competitor",
        "t16"."satisfaction_score",
        "t16"."complaints_3m",
        "t16"."dropped_call_rate",
        "t16"."weak_coverage_share",
        "t16"."nps_score",
        "t16"."history_months",
        "t16"."arpu_3m",
        "t16"."arpu_prev3",
        "t16"."arpu_drop_pct",
        "t16"."voice_minutes_3m",
        "t16"."minutes_drop_pct",
        "t16"."data_mb_3m",
        "t16"."vas_total",
        "t16"."vas_3m",
        "t16"."bb_hours_3m",
        "t16"."online_drop_pct",
        "t16"."days_to_contract_end",
        "t16"."months_to_contract_end",
        "t16"."tenure_days",
        "t16"."tenure_months",
        "t16"."handset_age_years",
        "t16"."annual_spend_est",
        "t16"."group_handset_count",
        "t16"."group_industry",
        "t16"."group_top500",
        "t16"."group_annual_spend",
        "t16"."exclusion_reason",
        "t16"."excluded",
        "t16"."a",
        "t16"."b",
        "t16"."c",
        "t16"."d",
        "t16"."e",
        "t16"."f",
        "t16"."g",
        "t16"."h",
        "t16"."i",
        COALESCE("t21"."high_voice", FALSE) AS "high_voice",
        COALESCE("t21"."high_vas", FALSE) AS "high_vas",
        COALESCE("t21"."high_data", FALSE) AS "high_data"
      FROM (
        SELECT
          "t14"."month",
          "t14"."subscriber_id",
          "t14"."customer_id",
          "t14"."account_id",
          "t14"."phone",
          "t14"."name",
          "t14"."id_number",
          "t14"."branch_id",
          "t14"."district",
          "t14"."line_type",
          "t14"."status",
          "t14"."is_free_account",
          "t14"."is_public_paid",
          "t14"."is_dedicated_line",
          "t14"."do_not_disturb",
          "t14"."credit_list",
          "t14"."payment_type",
          "t14"."group_payment_amount",
          "t14"."activation_date",
          "t14"."contract_type",
          "t14"."contract_start",
          "t14"."contract_end",
          "t14"."package_name",
          "t14"."package_fee",
          "t14"."is_converged",
          "t14"."arpu",
          "t14"."voice_minutes",
          "t14"."sms_mms_spend",
          "t14"."vas_spend",
          "t14"."data_mb",
          "t14"."zero_call_days",
          "t14"."bb_speed_mbps",
          "t14"."bb_online_hours",
          "t14"."has_iptv",
          "t14"."has_mobile_line",
          "t14"."handset_model",
          "t14"."handset_generation",
          "t14"."handset_smart",
          "t14"."handset_first_use_date",
          "t14"."vip_level",
          "t14"."annual_spend",
          "t14"."snapshot_midhigh",
          "t14"."group_id",
          "t14"."complaints",
          "t14"."competitor_contacts",
          "t14"."dual_competitor",
          "t14"."satisfaction_score",
          "t14"."complaints_3m",
          "t14"."dropped_call_rate",
          "t14"."weak_coverage_share",
          "t14"."nps_score",
          "t14"."history_months",
          "t14"."arpu_3m",
          "t14"."arpu_prev3",
          "t14"."arpu_drop_pct",
          "t14"."voice_minutes_3m",
          "t14"."minutes_drop_pct",
          "t14"."data_mb_3m",
          "t14"."vas_total",
          "t14"."vas_3m",
          "t14"."bb_hours_3m",
          "t14"."online_drop_pct",
          "t14"."days_to_contract_end",
          "t14"."months_to_contract_end",
          "t14"."tenure_days",
          "t14"."tenure_months",
          "t14"."handset_age_years",
          "t14"."annual_spend_est",
          "t14"."group_handset_count",
          "t14"."group_industry",
          "t14"."group_top500",
          "t14"."group_annual_spend",
          "t14"."exclusion_reason",
          "t14"."exclusion_reason" IS NOT NULL AS "excluded",
          CASE
            WHEN TRUE AND COALESCE("t14"."line_type" = 'mobile', FALSE)
            THEN CASE
              WHEN COALESCE(
                COALESCE("t14"."contract_type" <> 'none', FALSE)
                AND (
                  COALESCE(0 <= "t14"."months_to_contract_end", FALSE)
                  AND COALESCE("t14"."months_to_contract_end" < 3.0, FALSE)
                ),
                FALSE
              )
              THEN 'A1'
              WHEN COALESCE(
                (
                  "t14"."contract_type" IS NULL
                )
                OR COALESCE("t14"."contract_type" = 'none', FALSE)
                OR (
                  "t14"."months_to_contract_end" IS NULL
                )
                OR COALESCE("t14"."months_to_contract_end" < 0, FALSE),
                FALSE
              )
              THEN 'A2'
              WHEN COALESCE(
                COALESCE("t14"."contract_type" <> 'none', FALSE)
                AND COALESCE("t14"."months_to_contract_end" >= 3.0, FALSE),
                FALSE
              )
              THEN 'A3'
              ELSE CAST(NULL AS TEXT)
            END
            WHEN TRUE AND COALESCE("t14"."line_type" = 'broadband', FALSE)
            THEN CASE
              WHEN COALESCE(
                COALESCE("t14"."contract_type" <> 'none', FALSE)
                AND (
                  COALESCE(0 <= "t14"."months_to_contract_end", FALSE)
                  AND COALESCE("t14"."months_to_contract_end" < 3.0, FALSE)
                ),
                FALSE
              )
              THEN 'A1'
              WHEN COALESCE(
                (
                  "t14"."contract_type" IS NULL
                )
                OR COALESCE("t14"."contract_type" = 'none', FALSE)
                OR (
                  "t14"."months_to_contract_end" IS NULL
                )
                OR COALESCE("t14"."months_to_contract_end" < 0, FALSE),
                FALSE
              )
              THEN 'A2'
              WHEN COALESCE(
                COALESCE("t14"."contract_type" <> 'none', FALSE)
                AND COALESCE("t14"."months_to_contract_end" >= 3.0, FALSE),
                FALSE
              )
              THEN 'A3'
              ELSE CAST(NULL AS TEXT)
            END
            ELSE CAST(NULL AS TEXT)
          END AS "a",
          CASE
            WHEN TRUE AND COALESCE("t14"."line_type" = 'mobile', FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE("t14"."snapshot_midhigh", FALSE), FALSE)
              THEN 'B1'
              WHEN COALESCE(
                NOT (
                  COALESCE("t14"."snapshot_midhigh", FALSE)
                )
                AND COALESCE("t14"."arpu_3m" >= 80.0, FALSE),
                FALSE
              )
              THEN 'B2'
              WHEN COALESCE(
                NOT (
                  COALESCE("t14"."snapshot_midhigh", FALSE)
                )
                AND (
                  COALESCE(20.0 <= "t14"."arpu_3m", FALSE)
                  AND COALESCE("t14"."arpu_3m" < 80.0, FALSE)
                ),
                FALSE
              )
              THEN 'B3'
              WHEN COALESCE(
                NOT (
                  COALESCE("t14"."snapshot_midhigh", FALSE)
                )
                AND COALESCE("t14"."arpu_3m" < 20.0, FALSE),
                FALSE
              )
              THEN 'B4'
              ELSE CAST(NULL AS TEXT)
            END
            WHEN TRUE AND COALESCE("t14"."line_type" = 'broadband', FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE("t14"."snapshot_midhigh", FALSE), FALSE)
              THEN 'B1'
              WHEN COALESCE(
                NOT (
                  COALESCE("t14"."snapshot_midhigh", FALSE)
                )
                AND COALESCE("t14"."arpu_3m" >= 120.0, FALSE),
                FALSE
              )
              THEN 'B2'
              WHEN COALESCE(
                NOT (
                  COALESCE("t14"."snapshot_midhigh", FALSE)
                )
                AND (
                  COALESCE(30.0 <= "t14"."arpu_3m", FALSE)
                  AND COALESCE("t14"."arpu_3m" < 120.0, FALSE)
                ),
                FALSE
              )
              THEN 'B3'
              WHEN COALESCE(
                NOT (
                  COALESCE("t14"."snapshot_midhigh", FALSE)
                )
                AND COALESCE("t14"."arpu_3m" < 30.0, FALSE),
                FALSE
              )
              THEN 'B4'
              ELSE CAST(NULL AS TEXT)
            END
            ELSE CAST(NULL AS TEXT)
          END AS "b",
          CASE
            WHEN TRUE AND COALESCE("t14"."line_type" = 'mobile', FALSE)
            THEN CASE
              WHEN COALESCE(
                COALESCE("t14"."arpu_drop_pct" >= 30.0, FALSE)
                OR COALESCE("t14"."minutes_drop_pct" >= 30.0, FALSE),
                FALSE
              )
              THEN 'C1'
              WHEN COALESCE(
                NOT (
                  COALESCE("t14"."arpu_drop_pct" >= 30.0, FALSE)
                  OR COALESCE("t14"."minutes_drop_pct" >= 30.0, FALSE)
                )
                AND (
                  COALESCE("t14"."payment_type" = 'corporate', FALSE)
                  OR COALESCE("t14"."group_payment_amount" > 50.0, FALSE)
                  OR COALESCE("t14"."is_converged", FALSE)
                ),
                FALSE
              )
              THEN 'C3'
              ELSE 'C2'
            END
            WHEN TRUE AND COALESCE("t14"."line_type" = 'broadband', FALSE)
            THEN CASE
              WHEN COALESCE(
                COALESCE("t14"."arpu_drop_pct" >= 30.0, FALSE)
                OR COALESCE("t14"."online_drop_pct" >= 30.0, FALSE),
                FALSE
              )
              THEN 'C1'
              WHEN COALESCE(
                NOT (
                  COALESCE("t14"."arpu_drop_pct" >= 30.0, FALSE)
                  OR COALESCE("t14"."online_drop_pct" >= 30.0, FALSE)
                )
                AND (
                  COALESCE("t14"."payment_type" = 'corporate', FALSE)
                  OR COALESCE("t14"."is_converged", FALSE)
                ),
                FALSE
              )
              THEN 'C3'
              ELSE 'C2'
            END
            ELSE CAST(NULL AS TEXT)
          END AS "c",
          CASE
            WHEN COALESCE(COALESCE("t14"."line_type" = 'mobile', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE("t14"."handset_generation" = '5g', FALSE), FALSE)
              THEN 'D1'
              WHEN COALESCE(COALESCE("t14"."handset_generation" = '4g', FALSE), FALSE)
              THEN 'D2'
              WHEN COALESCE(
                (
                  "t14"."handset_generation" IS NULL
                )
                OR COALESCE("t14"."handset_generation" IN ('2g', '3g'), FALSE),
                FALSE
              )
              THEN 'D3'
              ELSE CAST(NULL AS TEXT)
            END
            ELSE CAST(NULL AS TEXT)
          END AS "d",
          CASE
            WHEN COALESCE(COALESCE("t14"."line_type" = 'mobile', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE("t14"."handset_age_years" >= 1.5, FALSE), FALSE)
              THEN 'E1'
              WHEN COALESCE(
                COALESCE(1.0 < "t14"."handset_age_years", FALSE)
                AND COALESCE("t14"."handset_age_years" < 1.5, FALSE),
                FALSE
              )
              THEN 'E2'
              WHEN COALESCE(
                (
                  "t14"."handset_age_years" IS NULL
                )
                OR COALESCE("t14"."handset_age_years" <= 1.0, FALSE),
                FALSE
              )
              THEN 'E3'
              ELSE CAST(NULL AS TEXT)
            END
            ELSE CAST(NULL AS TEXT)
          END AS "e",
          CASE
            WHEN COALESCE(COALESCE("t14"."line_type" = 'mobile', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE("t14"."data_mb_3m" >= 20480.0, FALSE), FALSE)
              THEN 'F1'
              WHEN COALESCE(
                COALESCE(5120.0 <= "t14"."data_mb_3m", FALSE)
                AND COALESCE("t14"."data_mb_3m" < 20480.0, FALSE),
                FALSE
              )
              THEN 'F2'
              WHEN COALESCE(
                (
                  "t14"."data_mb_3m" IS NULL
                ) OR COALESCE("t14"."data_mb_3m" < 5120.0, FALSE),
                FALSE
              )
              THEN 'F3'
              ELSE CAST(NULL AS TEXT)
            END
            ELSE CAST(NULL AS TEXT)
          END AS "f",
          CASE
            WHEN COALESCE(COALESCE("t14"."line_type" = 'broadband', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE("t14"."has_mobile_line", FALSE), FALSE)
              THEN 'G1'
              WHEN COALESCE(NOT (
                COALESCE("t14"."has_mobile_line", FALSE)
              ), FALSE)
              THEN 'G2'
              ELSE CAST(NULL AS TEXT)
            END
            ELSE CAST(NULL AS TEXT)
          END AS "g",
          CASE
            WHEN COALESCE(COALESCE("t14"."line_type" = 'broadband', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE("t14"."bb_speed_mbps" >= 1000.0, FALSE), FALSE)
              THEN 'H1'
              WHEN COALESCE(
                COALESCE(500.0 <= "t14"."bb_speed_mbps", FALSE)
                AND COALESCE("t14"."bb_speed_mbps" < 1000.0, FALSE),
                FALSE
              )
              THEN 'H2'
              WHEN COALESCE(
                (
                  "t14"."bb_speed_mbps" IS NULL
                )
                OR COALESCE("t14"."bb_speed_mbps" < 500.0, FALSE),
                FALSE
              )
              THEN 'H3'
              ELSE CAST(NULL AS TEXT)
            END
            ELSE CAST(NULL AS TEXT)
          END AS "h",
          CASE
            WHEN COALESCE(COALESCE("t14"."line_type" = 'broadband', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE("t14"."has_iptv", FALSE), FALSE)
              THEN 'I1'
              WHEN COALESCE(NOT (
                COALESCE("t14"."has_iptv", FALSE)
              ), FALSE)
              THEN 'I2'
              ELSE CAST(NULL AS TEXT)
            END
            ELSE CAST(NULL AS TEXT)
          END AS "i"
        FROM "t13" AS "t14"
      ) AS "t16"
      LEFT OUTER JOIN (
        SELECT
          "t19"."_fk",
          "t19"."_p_high_voice"
          AND (
            "t19"."_r_high_voice" >= 0.7
          )
          AND (
            "t19"."_m_high_voice" > 0
          ) AS "high_voice",
          "t19"."_p_high_vas"
          AND (
            "t19"."_r_high_vas" >= 0.7
          )
          AND (
            "t19"."_m_high_vas" > 0
          ) AS "high_vas",
          "t19"."_p_high_data"
          AND (
            "t19"."_r_high_data" >= 0.7
          )
          AND (
            "t19"."_m_high_data" > 0
          ) AS "high_data"
        FROM (
          SELECT
            "t18"."_fk",
            "t18"."_m_high_voice",
            "t18"."_p_high_voice",
            "t18"."_m_high_vas",
            "t18"."_p_high_vas",
            "t18"."_m_high_data",
            "t18"."_p_high_data",
            PERCENT_RANK() OVER (
              PARTITION BY "t18"."_p_high_voice"
              ORDER BY "t18"."_m_high_voice" ASC
              ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
            ) AS "_r_high_voice",
            PERCENT_RANK() OVER (
              PARTITION BY "t18"."_p_high_vas"
              ORDER BY "t18"."_m_high_vas" ASC
              ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
            ) AS "_r_high_vas",
            PERCENT_RANK() OVER (
              PARTITION BY "t18"."_p_high_data"
              ORDER BY "t18"."_m_high_data" ASC
              ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
            ) AS "_r_high_data"
          FROM (
            SELECT
              *
            FROM (
              SELECT
                "t14"."subscriber_id" AS "_fk",
                COALESCE("t14"."voice_minutes_3m", 0.0) AS "_m_high_voice",
                COALESCE(
                  NOT (
                    COALESCE("t14"."exclusion_reason" IS NOT NULL, FALSE)
                  )
                  AND COALESCE("t14"."line_type" = 'mobile', FALSE)
                  AND COALESCE(
                    CASE
                      WHEN TRUE AND COALESCE("t14"."line_type" = 'mobile', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE("t14"."snapshot_midhigh", FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" >= 80.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND (
                            COALESCE(20.0 <= "t14"."arpu_3m", FALSE)
                            AND COALESCE("t14"."arpu_3m" < 80.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" < 20.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS TEXT)
                      END
                      WHEN TRUE AND COALESCE("t14"."line_type" = 'broadband', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE("t14"."snapshot_midhigh", FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" >= 120.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND (
                            COALESCE(30.0 <= "t14"."arpu_3m", FALSE)
                            AND COALESCE("t14"."arpu_3m" < 120.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" < 30.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS TEXT)
                      END
                      ELSE CAST(NULL AS TEXT)
                    END IN ('B1', 'B2'),
                    FALSE
                  ),
                  FALSE
                ) AS "_p_high_voice",
                COALESCE("t14"."vas_3m", 0.0) AS "_m_high_vas",
                COALESCE(
                  NOT (
                    COALESCE("t14"."exclusion_reason" IS NOT NULL, FALSE)
                  )
                  AND COALESCE("t14"."line_type" = 'mobile', FALSE)
                  AND COALESCE(
                    CASE
                      WHEN TRUE AND COALESCE("t14"."line_type" = 'mobile', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE("t14"."snapshot_midhigh", FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" >= 80.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND (
                            COALESCE(20.0 <= "t14"."arpu_3m", FALSE)
                            AND COALESCE("t14"."arpu_3m" < 80.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" < 20.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS TEXT)
                      END
                      WHEN TRUE AND COALESCE("t14"."line_type" = 'broadband', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE("t14"."snapshot_midhigh", FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" >= 120.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND (
                            COALESCE(30.0 <= "t14"."arpu_3m", FALSE)
                            AND COALESCE("t14"."arpu_3m" < 120.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" < 30.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS TEXT)
                      END
                      ELSE CAST(NULL AS TEXT)
                    END IN ('B1', 'B2'),
                    FALSE
                  ),
                  FALSE
                ) AS "_p_high_vas",
                COALESCE("t14"."data_mb_3m", 0.0) AS "_m_high_data",
                COALESCE(
                  NOT (
                    COALESCE("t14"."exclusion_reason" IS NOT NULL, FALSE)
                  )
                  AND COALESCE("t14"."line_type" = 'mobile', FALSE)
                  AND COALESCE(
                    CASE
                      WHEN TRUE AND COALESCE("t14"."line_type" = 'mobile', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE("t14"."snapshot_midhigh", FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" >= 80.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND (
                            COALESCE(20.0 <= "t14"."arpu_3m", FALSE)
                            AND COALESCE("t14"."arpu_3m" < 80.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" < 20.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS TEXT)
                      END
                      WHEN TRUE AND COALESCE("t14"."line_type" = 'broadband', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE("t14"."snapshot_midhigh", FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" >= 120.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND (
                            COALESCE(30.0 <= "t14"."arpu_3m", FALSE)
                            AND COALESCE("t14"."arpu_3m" < 120.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE("t14"."snapshot_midhigh", FALSE)
                          )
                          AND COALESCE("t14"."arpu_3m" < 30.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS TEXT)
                      END
                      ELSE CAST(NULL AS TEXT)
                    END IN ('B1', 'B2'),
                    FALSE
                  ),
                  FALSE
                ) AS "_p_high_data"
              FROM "t13" AS "t14"
            ) AS "t17"
            WHERE
              "t17"."_p_high_voice" OR "t17"."_p_high_vas" OR "t17"."_p_high_data"
          ) AS "t18"
        ) AS "t19"
      ) AS "t21"
        ON "t16"."subscriber_id" = "t21"."_fk"
    ) AS "t22"
  ) AS "t23"
) AS "t24"
