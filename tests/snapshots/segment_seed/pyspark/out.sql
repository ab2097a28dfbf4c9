WITH `t16` AS (
  SELECT
    `t15`.`month`,
    `t15`.`subscriber_id`,
    `t15`.`customer_id`,
    `t15`.`account_id`,
    `t15`.`phone`,
    `t15`.`name`,
    `t15`.`id_number`,
    `t15`.`branch_id`,
    `t15`.`district`,
    `t15`.`line_type`,
    `t15`.`status`,
    `t15`.`is_free_account`,
    `t15`.`is_public_paid`,
    `t15`.`is_dedicated_line`,
    `t15`.`do_not_disturb`,
    `t15`.`credit_list`,
    `t15`.`payment_type`,
    `t15`.`group_payment_amount`,
    `t15`.`activation_date`,
    `t15`.`contract_type`,
    `t15`.`contract_start`,
    `t15`.`contract_end`,
    `t15`.`package_name`,
    `t15`.`package_fee`,
    `t15`.`is_converged`,
    `t15`.`arpu`,
    `t15`.`voice_minutes`,
    `t15`.`sms_mms_spend`,
    `t15`.`vas_spend`,
    `t15`.`data_mb`,
    `t15`.`zero_call_days`,
    `t15`.`bb_speed_mbps`,
    `t15`.`bb_online_hours`,
    `t15`.`has_iptv`,
    `t15`.`has_mobile_line`,
    `t15`.`handset_model`,
    `t15`.`handset_generation`,
    `t15`.`handset_smart`,
    `t15`.`handset_first_use_date`,
    `t15`.`vip_level`,
    `t15`.`annual_spend`,
    `t15`.`snapshot_midhigh`,
    `t15`.`group_id`,
    `t15`.`complaints`,
    `t15`.`competitor_contacts`,
    `t15`.`dual_competitor`,
    `t15`.`satisfaction_score`,
    `t15`.`complaints_3m`,
    `t15`.`dropped_call_rate`,
    `t15`.`weak_coverage_share`,
    `t15`.`nps_score`,
    `t15`.`history_months`,
    `t15`.`arpu_3m`,
    `t15`.`arpu_prev3`,
    `t15`.`arpu_drop_pct`,
    `t15`.`voice_minutes_3m`,
    `t15`.`minutes_drop_pct`,
    `t15`.`data_mb_3m`,
    `t15`.`vas_total`,
    `t15`.`vas_3m`,
    `t15`.`bb_hours_3m`,
    `t15`.`online_drop_pct`,
    `t15`.`days_to_contract_end`,
    `t15`.`months_to_contract_end`,
    `t15`.`tenure_days`,
    `t15`.`tenure_months`,
    `t15`.`handset_age_years`,
    `t15`.`annual_spend_est`,
    `t15`.`group_handset_count`,
    `t15`.`group_industry`,
    `t15`.`group_top500`,
    `t15`.`group_annual_spend`,
    CASE
      WHEN COALESCE(COALESCE(`t15`.`is_free_account`, FALSE), FALSE)
      THEN 'free_account'
      WHEN COALESCE(COALESCE(`t15`.`is_public_paid`, FALSE), FALSE)
      THEN 'public_paid'
      WHEN COALESCE(COALESCE(`t15`.`line_type` = 'data_card', FALSE), FALSE)
      THEN 'data_card'
      WHEN COALESCE(COALESCE(`t15`.`line_type` = 'payphone', FALSE), FALSE)
      THEN 'payphone'
      WHEN COALESCE(COALESCE(`t15`.`line_type` = 'iot', FALSE), FALSE)
      THEN 'iot'
      WHEN COALESCE(NOT (
        COALESCE(`t15`.`line_type` IN ('mobile', 'broadband'), FALSE)
      ), FALSE)
      THEN 'not_segmented'
      WHEN COALESCE(
        COALESCE(`t15`.`line_type` = 'broadband', FALSE)
        AND COALESCE(`t15`.`is_dedicated_line`, FALSE),
        FALSE
      )
      THEN 'dedicated_line'
      WHEN COALESCE(COALESCE(`t15`.`status` <> 'active', FALSE), FALSE)
      THEN 'abnormal_status'
      WHEN COALESCE(
        `t15`.`tenure_months` IS NULL
        OR ISNAN(`t15`.`tenure_months`)
        OR COALESCE(`t15`.`tenure_months` < 3.0, FALSE),
        FALSE
      )
      THEN 'short_tenure'
      WHEN COALESCE(COALESCE(`t15`.`credit_list` IN ('red', 'black'), FALSE), FALSE)
      THEN 'red_black_list'
      WHEN COALESCE(COALESCE(`t15`.`do_not_disturb`, FALSE), FALSE)
      THEN 'do_not_disturb'
      ELSE CAST(NULL AS STRING)
    END AS `exclusion_reason`
  FROM (
    SELECT
      `t14`.`month`,
      `t14`.`subscriber_id`,
      `t14`.`customer_id`,
      `t14`.`account_id`,
      `t14`.`phone`,
      `t14`.`name`,
      `t14`.`id_number`,
      `t14`.`branch_id`,
      `t14`.`district`,
      `t14`.`line_type`,
      `t14`.`status`,
      `t14`.`is_free_account`,
      `t14`.`is_public_paid`,
      `t14`.`is_dedicated_line`,
      `t14`.`do_not_disturb`,
      `t14`.`credit_list`,
      `t14`.`payment_type`,
      `t14`.`group_payment_amount`,
      `t14`.`activation_date`,
      `t14`.`contract_type`,
      `t14`.`contract_start`,
      `t14`.`contract_end`,
      `t14`.`package_name`,
      `t14`.`package_fee`,
      `t14`.`is_converged`,
      `t14`.`arpu`,
      `t14`.`voice_minutes`,
      `t14`.`sms_mms_spend`,
      `t14`.`vas_spend`,
      `t14`.`data_mb`,
      `t14`.`zero_call_days`,
      `t14`.`bb_speed_mbps`,
      `t14`.`bb_online_hours`,
      `t14`.`has_iptv`,
      `t14`.`has_mobile_line`,
      `t14`.`handset_model`,
      `t14`.`handset_generation`,
      `t14`.`handset_smart`,
      `t14`.`handset_first_use_date`,
      `t14`.`vip_level`,
      `t14`.`annual_spend`,
      `t14`.`snapshot_midhigh`,
      `t14`.`group_id`,
      `t14`.`complaints`,
      `t14`.`competitor_contacts`,
      `t14`.`dual_competitor`,
      `t14`.`satisfaction_score`,
      `t14`.`complaints_3m`,
      `t14`.`dropped_call_rate`,
      `t14`.`weak_coverage_share`,
      `t14`.`nps_score`,
      `t14`.`history_months`,
      `t14`.`arpu_3m`,
      `t14`.`arpu_prev3`,
      `t14`.`arpu_drop_pct`,
      `t14`.`voice_minutes_3m`,
      `t14`.`minutes_drop_pct`,
      `t14`.`data_mb_3m`,
      `t14`.`vas_total`,
      `t14`.`vas_3m`,
      `t14`.`bb_hours_3m`,
      `t14`.`online_drop_pct`,
      `t14`.`days_to_contract_end`,
      `t14`.`months_to_contract_end`,
      `t14`.`tenure_days`,
      `t14`.`tenure_months`,
      `t14`.`handset_age_years`,
      `t14`.`annual_spend_est`,
      `t3`.`group_handset_count`,
      `t3`.`group_industry`,
      `t3`.`group_top500`,
      `t3`.`group_annual_spend`
    FROM (
      SELECT
        `t12`.`month`,
        `t12`.`subscriber_id`,
        `t12`.`customer_id`,
        `t12`.`account_id`,
        `t12`.`phone`,
        `t12`.`name`,
        `t12`.`id_number`,
        `t12`.`branch_id`,
        `t12`.`district`,
        `t12`.`line_type`,
        `t12`.`status`,
        `t12`.`is_free_account`,
        `t12`.`is_public_paid`,
        `t12`.`is_dedicated_line`,
        `t12`.`do_not_disturb`,
        `t12`.`credit_list`,
        `t12`.`payment_type`,
        `t12`.`group_payment_amount`,
        `t12`.`activation_date`,
        `t12`.`contract_type`,
        `t12`.`contract_start`,
        `t12`.`contract_end`,
        `t12`.`package_name`,
        `t12`.`package_fee`,
        `t12`.`is_converged`,
        `t12`.`arpu`,
        `t12`.`voice_minutes`,
        `t12`.`sms_mms_spend`,
        `t12`.`vas_spend`,
        `t12`.`data_mb`,
        `t12`.`zero_call_days`,
        `t12`.`bb_speed_mbps`,
        `t12`.`bb_online_hours`,
        `t12`.`has_iptv`,
        `t12`.`has_mobile_line`,
        `t12`.`handset_model`,
        `t12`.`handset_generation`,
        `t12`.`handset_smart`,
        `t12`.`handset_first_use_date`,
        `t12`.`vip_level`,
        `t12`.`annual_spend`,
        `t12`.`snapshot_midhigh`,
        `t12`.`group_id`,
        `t12`.`complaints`,
        `t12`.`competitor_contacts`,
        `t12`.`dual_competitor`,
        `t12`.`satisfaction_score`,
        `t12`.`complaints_3m`,
        `t12`.`dropped_call_rate`,
        `t12`.`weak_coverage_share`,
        `t12`.`nps_score`,
        CAST(`t12`.`_arpu_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p1`) AS BIGINT) + CAST(`t12`.`_arpu_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p2`) AS BIGINT) + CAST(`t12`.`_arpu_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p3`) AS BIGINT) AS `history_months`,
        CAST(ROUND(
          (
            COALESCE(`t12`.`arpu`, 0.0) + COALESCE(`t12`.`_arpu_p1`, 0.0) + COALESCE(`t12`.`_arpu_p2`, 0.0)
          ) / CAST(NULLIF(
            CAST(`t12`.`arpu` IS NOT NULL AND NOT ISNAN(`t12`.`arpu`) AS BIGINT) + CAST(`t12`.`_arpu_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p1`) AS BIGINT) + CAST(`t12`.`_arpu_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p2`) AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS `arpu_3m`,
        CAST(ROUND(
          (
            COALESCE(`t12`.`_arpu_p1`, 0.0) + COALESCE(`t12`.`_arpu_p2`, 0.0) + COALESCE(`t12`.`_arpu_p3`, 0.0)
          ) / CAST(NULLIF(
            CAST(`t12`.`_arpu_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p1`) AS BIGINT) + CAST(`t12`.`_arpu_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p2`) AS BIGINT) + CAST(`t12`.`_arpu_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p3`) AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS `arpu_prev3`,
        IF(
          CAST(ROUND(
            (
              COALESCE(`t12`.`_arpu_p1`, 0.0) + COALESCE(`t12`.`_arpu_p2`, 0.0) + COALESCE(`t12`.`_arpu_p3`, 0.0)
            ) / CAST(NULLIF(
              CAST(`t12`.`_arpu_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p1`) AS BIGINT) + CAST(`t12`.`_arpu_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p2`) AS BIGINT) + CAST(`t12`.`_arpu_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p3`) AS BIGINT),
              0
            ) AS DOUBLE),
            6
          ) AS DOUBLE) > 0,
          CAST(ROUND(
            (
              (
                CAST(ROUND(
                  (
                    COALESCE(`t12`.`_arpu_p1`, 0.0) + COALESCE(`t12`.`_arpu_p2`, 0.0) + COALESCE(`t12`.`_arpu_p3`, 0.0)
                  ) / CAST(NULLIF(
                    CAST(`t12`.`_arpu_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p1`) AS BIGINT) + CAST(`t12`.`_arpu_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p2`) AS BIGINT) + CAST(`t12`.`_arpu_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p3`) AS BIGINT),
                    0
                  ) AS DOUBLE),
                  6
                ) AS DOUBLE) - `t12`.`arpu`
              ) * 100.0
            ) / CAST(ROUND(
              (
                COALESCE(`t12`.`_arpu_p1`, 0.0) + COALESCE(`t12`.`_arpu_p2`, 0.0) + COALESCE(`t12`.`_arpu_p3`, 0.0)
              ) / CAST(NULLIF(
                CAST(`t12`.`_arpu_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p1`) AS BIGINT) + CAST(`t12`.`_arpu_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p2`) AS BIGINT) + CAST(`t12`.`_arpu_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p3`) AS BIGINT),
                0
              ) AS DOUBLE),
              6
            ) AS DOUBLE),
            6
          ) AS DOUBLE),
          CAST(NULL AS DOUBLE)
        ) AS `arpu_drop_pct`,
        CAST(ROUND(
          (
            COALESCE(`t12`.`voice_minutes`, 0.0) + COALESCE(`t12`.`_voice_minutes_p1`, 0.0) + COALESCE(`t12`.`_voice_minutes_p2`, 0.0)
          ) / CAST(NULLIF(
            CAST(`t12`.`voice_minutes` IS NOT NULL AND NOT ISNAN(`t12`.`voice_minutes`) AS BIGINT) + CAST(`t12`.`_voice_minutes_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p1`) AS BIGINT) + CAST(`t12`.`_voice_minutes_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p2`) AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS `voice_minutes_3m`,
        IF(
          CAST(ROUND(
            (
              COALESCE(`t12`.`_voice_minutes_p1`, 0.0) + COALESCE(`t12`.`_voice_minutes_p2`, 0.0) + COALESCE(`t12`.`_voice_minutes_p3`, 0.0)
            ) / CAST(NULLIF(
              CAST(`t12`.`_voice_minutes_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p1`) AS BIGINT) + CAST(`t12`.`_voice_minutes_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p2`) AS BIGINT) + CAST(`t12`.`_voice_minutes_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p3`) AS BIGINT),
              0
            ) AS DOUBLE),
            6
          ) AS DOUBLE) > 0,
          CAST(ROUND(
            (
              (
                CAST(ROUND(
                  (
                    COALESCE(`t12`.`_voice_minutes_p1`, 0.0) + COALESCE(`t12`.`_voice_minutes_p2`, 0.0) + COALESCE(`t12`.`_voice_minutes_p3`, 0.0)
                  ) / CAST(NULLIF(
                    CAST(`t12`.`_voice_minutes_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p1`) AS BIGINT) + CAST(`t12`.`_voice_minutes_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p2`) AS BIGINT) + CAST(`t12`.`_voice_minutes_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p3`) AS BIGINT),
                    0
                  ) AS DOUBLE),
                  6
                ) AS DOUBLE) - `t12`.`voice_minutes`
              ) * 100.0
            ) / CAST(ROUND(
              (
                COALESCE(`t12`.`_voice_minutes_p1`, 0.0) + COALESCE(`t12`.`_voice_minutes_p2`, 0.0) + COALESCE(`t12`.`_voice_minutes_p3`, 0.0)
              ) / CAST(NULLIF(
                CAST(`t12`.`_voice_minutes_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p1`) AS BIGINT) + CAST(`t12`.`_voice_minutes_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p2`) AS BIGINT) + CAST(`t12`.`_voice_minutes_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_voice_minutes_p3`) AS BIGINT),
                0
              ) AS DOUBLE),
              6
            ) AS DOUBLE),
            6
          ) AS DOUBLE),
          CAST(NULL AS DOUBLE)
        ) AS `minutes_drop_pct`,
        CAST(ROUND(
          (
            COALESCE(`t12`.`data_mb`, 0.0) + COALESCE(`t12`.`_data_mb_p1`, 0.0) + COALESCE(`t12`.`_data_mb_p2`, 0.0)
          ) / CAST(NULLIF(
            CAST(`t12`.`data_mb` IS NOT NULL AND NOT ISNAN(`t12`.`data_mb`) AS BIGINT) + CAST(`t12`.`_data_mb_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_data_mb_p1`) AS BIGINT) + CAST(`t12`.`_data_mb_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_data_mb_p2`) AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS `data_mb_3m`,
        COALESCE(`t12`.`sms_mms_spend`, 0) + COALESCE(`t12`.`vas_spend`, 0) AS `vas_total`,
        CAST(ROUND(
          (
            COALESCE(COALESCE(`t12`.`sms_mms_spend`, 0) + COALESCE(`t12`.`vas_spend`, 0), 0.0) + COALESCE(`t12`.`_vas_p1`, 0.0) + COALESCE(`t12`.`_vas_p2`, 0.0)
          ) / CAST(NULLIF(
            CAST((
              COALESCE(`t12`.`sms_mms_spend`, 0) + COALESCE(`t12`.`vas_spend`, 0)
            ) IS NOT NULL
            AND NOT ISNAN(COALESCE(`t12`.`sms_mms_spend`, 0) + COALESCE(`t12`.`vas_spend`, 0)) AS BIGINT) + CAST(`t12`.`_vas_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_vas_p1`) AS BIGINT) + CAST(`t12`.`_vas_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_vas_p2`) AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS `vas_3m`,
        CAST(ROUND(
          (
            COALESCE(`t12`.`bb_online_hours`, 0.0) + COALESCE(`t12`.`_bb_hours_p1`, 0.0) + COALESCE(`t12`.`_bb_hours_p2`, 0.0)
          ) / CAST(NULLIF(
            CAST(`t12`.`bb_online_hours` IS NOT NULL AND NOT ISNAN(`t12`.`bb_online_hours`) AS BIGINT) + CAST(`t12`.`_bb_hours_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p1`) AS BIGINT) + CAST(`t12`.`_bb_hours_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p2`) AS BIGINT),
            0
          ) AS DOUBLE),
          6
        ) AS DOUBLE) AS `bb_hours_3m`,
        IF(
          CAST(ROUND(
            (
              COALESCE(`t12`.`_bb_hours_p1`, 0.0) + COALESCE(`t12`.`_bb_hours_p2`, 0.0) + COALESCE(`t12`.`_bb_hours_p3`, 0.0)
            ) / CAST(NULLIF(
              CAST(`t12`.`_bb_hours_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p1`) AS BIGINT) + CAST(`t12`.`_bb_hours_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p2`) AS BIGINT) + CAST(`t12`.`_bb_hours_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p3`) AS BIGINT),
              0
            ) AS DOUBLE),
            6
          ) AS DOUBLE) > 0,
          CAST(ROUND(
            (
              (
                CAST(ROUND(
                  (
                    COALESCE(`t12`.`_bb_hours_p1`, 0.0) + COALESCE(`t12`.`_bb_hours_p2`, 0.0) + COALESCE(`t12`.`_bb_hours_p3`, 0.0)
                  ) / CAST(NULLIF(
                    CAST(`t12`.`_bb_hours_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p1`) AS BIGINT) + CAST(`t12`.`_bb_hours_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p2`) AS BIGINT) + CAST(`t12`.`_bb_hours_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p3`) AS BIGINT),
                    0
                  ) AS DOUBLE),
                  6
                ) AS DOUBLE) - `t12`.`bb_online_hours`
              ) * 100.0
            ) / CAST(ROUND(
              (
                COALESCE(`t12`.`_bb_hours_p1`, 0.0) + COALESCE(`t12`.`_bb_hours_p2`, 0.0) + COALESCE(`t12`.`_bb_hours_p3`, 0.0)
              ) / CAST(NULLIF(
                CAST(`t12`.`_bb_hours_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p1`) AS BIGINT) + CAST(`t12`.`_bb_hours_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p2`) AS BIGINT) + CAST(`t12`.`_bb_hours_p3` IS NOT NULL AND NOT ISNAN(`t12`.`_bb_hours_p3`) AS BIGINT),
                0
              ) AS DOUBLE),
              6
            ) AS DOUBLE),
            6
          ) AS DOUBLE),
          CAST(NULL AS DOUBLE)
        ) AS `online_drop_pct`,
        DATEDIFF(DAY, MAKE_DATE(2026, 3, 31), `t12`.`contract_end`) AS `days_to_contract_end`,
        CAST(ROUND(
          CAST(DATEDIFF(DAY, MAKE_DATE(2026, 3, 31), `t12`.`contract_end`) AS DOUBLE) / 30,
          6
        ) AS DOUBLE) AS `months_to_contract_end`,
        DATEDIFF(DAY, `t12`.`activation_date`, MAKE_DATE(2026, 3, 31)) AS `tenure_days`,
        CAST(ROUND(
          CAST(DATEDIFF(DAY, `t12`.`activation_date`, MAKE_DATE(2026, 3, 31)) AS DOUBLE) / 30,
          6
        ) AS DOUBLE) AS `tenure_months`,
        CAST(ROUND(
          CAST(DATEDIFF(DAY, `t12`.`handset_first_use_date`, MAKE_DATE(2026, 3, 31)) AS DOUBLE) / 365,
          6
        ) AS DOUBLE) AS `handset_age_years`,
        COALESCE(
          `t12`.`annual_spend`,
          CAST(ROUND(
            CAST(ROUND(
              (
                COALESCE(`t12`.`arpu`, 0.0) + COALESCE(`t12`.`_arpu_p1`, 0.0) + COALESCE(`t12`.`_arpu_p2`, 0.0)
              ) / CAST(NULLIF(
                CAST(`t12`.`arpu` IS NOT NULL AND NOT ISNAN(`t12`.`arpu`) AS BIGINT) + CAST(`t12`.`_arpu_p1` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p1`) AS BIGINT) + CAST(`t12`.`_arpu_p2` IS NOT NULL AND NOT ISNAN(`t12`.`_arpu_p2`) AS BIGINT),
                0
              ) AS DOUBLE),
              6
            ) AS DOUBLE) * 12.0,
            6
          ) AS DOUBLE)
        ) AS `annual_spend_est`
      FROM (
        SELECT
          `t5`.`month`,
          `t5`.`subscriber_id`,
          `t5`.`customer_id`,
          `t5`.`account_id`,
          `t5`.`phone`,
          `t5`.`name`,
          `t5`.`id_number`,
          `t5`.`branch_id`,
          `t5`.`district`,
          `t5`.`line_type`,
          `t5`.`status`,
          `t5`.`is_free_account`,
          `t5`.`is_public_paid`,
          `t5`.`is_dedicated_line`,
          `t5`.`do_not_disturb`,
          `t5`.`credit_list`,
          `t5`.`payment_type`,
          `t5`.`group_payment_amount`,
          `t5`.`activation_date`,
          `t5`.`contract_type`,
          `t5`.`contract_start`,
          `t5`.`contract_end`,
          `t5`.`package_name`,
          `t5`.`package_fee`,
          `t5`.`is_converged`,
          `t5`.`arpu`,
          `t5`.`voice_minutes`,
          `t5`.`sms_mms_spend`,
          `t5`.`vas_spend`,
          `t5`.`data_mb`,
          `t5`.`zero_call_days`,
          `t5`.`bb_speed_mbps`,
          `t5`.`bb_online_hours`,
          `t5`.`has_iptv`,
          `t5`.`has_mobile_line`,
          `t5`.`handset_model`,
          `t5`.`handset_generation`,
          `t5`.`handset_smart`,
          `t5`.`handset_first_use_date`,
          `t5`.`vip_level`,
          `t5`.`annual_spend`,
          `t5`.`snapshot_midhigh`,
          `t5`.`group_id`,
          `t5`.`complaints`,
          `t5`.`competitor_contacts`,
          `t5`.`dual_competitor`,
          `t5`.`satisfaction_score`,
          `t5`.`complaints_3m`,
          `t5`.`dropped_call_rate`,
          `t5`.`weak_coverage_share`,
          `t5`.`nps_score`,
          `t9`.`_arpu_p1`,
          `t9`.`_voice_minutes_p1`,
          `t9`.`_data_mb_p1`,
          `t9`.`_vas_p1`,
          `t9`.`_bb_hours_p1`,
          `t10`.`_arpu_p2`,
          `t10`.`_voice_minutes_p2`,
          `t10`.`_data_mb_p2`,
          `t10`.`_vas_p2`,
          `t10`.`_bb_hours_p2`,
          `t11`.`_arpu_p3`,
          `t11`.`_voice_minutes_p3`,
          `t11`.`_data_mb_p3`,
          `t11`.`_vas_p3`,
          `t11`.`_bb_hours_p3`
        FROM (
          SELECT
            *
          FROM `snapshot` AS `t1`
          WHERE
            `t1`.`month` = MAKE_DATE(2026, 3, 1)
        ) AS `t5`
        LEFT OUTER JOIN (
          SELECT
            `t1`.`subscriber_id` AS `_sid`,
            `t1`.`arpu` AS `_arpu_p1`,
            `t1`.`voice_minutes` AS `_voice_minutes_p1`,
            `t1`.`data_mb` AS `_data_mb_p1`,
            COALESCE(`t1`.`sms_mms_spend`, 0) + COALESCE(`t1`.`vas_spend`, 0) AS `_vas_p1`,
            `t1`.`bb_online_hours` AS `_bb_hours_p1`
          FROM `snapshot` AS `t1`
          WHERE
            `t1`.`month` = MAKE_DATE(2026, 2, 1)
        ) AS `t9`
          ON `t5`.`subscriber_id` = `t9`.`_sid`
        LEFT OUTER JOIN (
          SELECT
            `t1`.`subscriber_id` AS `_sid`,
            `t1`.`arpu` AS `_arpu_p2`,
            `t1`.`voice_minutes` AS `_voice_minutes_p2`,
            `t1`.`data_mb` AS `_data_mb_p2`,
            COALESCE(`t1`.`sms_mms_spend`, 0) + COALESCE(`t1`.`vas_spend`, 0) AS `_vas_p2`,
            `t1`.`bb_online_hours` AS `_bb_hours_p2`
          FROM `snapshot` AS `t1`
          WHERE
            `t1`.`month` = MAKE_DATE(2026, 1, 1)
        ) AS `t10`
          ON `t5`.`subscriber_id` = `t10`.`_sid`
        LEFT OUTER JOIN (
          SELECT
            `t1`.`subscriber_id` AS `_sid`,
            `t1`.`arpu` AS `_arpu_p3`,
            `t1`.`voice_minutes` AS `_voice_minutes_p3`,
            `t1`.`data_mb` AS `_data_mb_p3`,
            COALESCE(`t1`.`sms_mms_spend`, 0) + COALESCE(`t1`.`vas_spend`, 0) AS `_vas_p3`,
            `t1`.`bb_online_hours` AS `_bb_hours_p3`
          FROM `snapshot` AS `t1`
          WHERE
            `t1`.`month` = MAKE_DATE(2025, 12, 1)
        ) AS `t11`
          ON `t5`.`subscriber_id` = `t11`.`_sid`
      ) AS `t12`
    ) AS `t14`
    LEFT OUTER JOIN (
      SELECT
        `t0`.`group_id` AS `_gid`,
        `t0`.`handset_count` AS `group_handset_count`,
        `t0`.`industry` AS `group_industry`,
        `t0`.`is_top500_taxpayer` AS `group_top500`,
        `t0`.`annual_spend` AS `group_annual_spend`
      FROM `enterprise_groups` AS `t0`
    ) AS `t3`
      ON `t14`.`group_id` = `t3`.`_gid`
  ) AS `t15`
)
SELECT
  `t27`.`month`,
  `t27`.`subscriber_id`,
  `t27`.`customer_id`,
  `t27`.`branch_id`,
  `t27`.`line_type`,
  `t27`.`excluded`,
  `t27`.`exclusion_reason`,
  `t27`.`a`,
  `t27`.`b`,
  `t27`.`c`,
  `t27`.`d`,
  `t27`.`e`,
  `t27`.`f`,
  `t27`.`g`,
  `t27`.`h`,
  `t27`.`i`,
  `t27`.`stability_group`,
  `t27`.`code`,
  IF(
    NOT (
      `t27`.`excluded`
    ),
    CASE
      WHEN `t27`.`stability_group` = 'A1-B1-C1'
      THEN 1
      WHEN `t27`.`stability_group` = 'A1-B1-C2'
      THEN 2
      WHEN `t27`.`stability_group` = 'A1-B1-C3'
      THEN 3
      WHEN `t27`.`stability_group` = 'A1-B2-C1'
      THEN 4
      WHEN `t27`.`stability_group` = 'A1-B2-C2'
      THEN 5
      WHEN `t27`.`stability_group` = 'A1-B2-C3'
      THEN 6
      WHEN `t27`.`stability_group` = 'A1-B3-C1'
      THEN 7
      WHEN `t27`.`stability_group` = 'A1-B3-C2'
      THEN 8
      WHEN `t27`.`stability_group` = 'A1-B3-C3'
      THEN 9
      WHEN `t27`.`stability_group` = 'A1-B4-C1'
      THEN 10
      WHEN `t27`.`stability_group` = 'A1-B4-C2'
      THEN 11
      WHEN `t27`.`stability_group` = 'A1-B4-C3'
      THEN 12
      WHEN `t27`.`stability_group` = 'A2-B1-C1'
      THEN 13
      WHEN `t27`.`stability_group` = 'A2-B2-C1'
      THEN 14
      WHEN `t27`.`stability_group` = 'A3-B1-C1'
      THEN 15
      WHEN `t27`.`stability_group` = 'A3-B2-C1'
      THEN 16
      WHEN `t27`.`stability_group` = 'A2-B1-C2'
      THEN 17
      WHEN `t27`.`stability_group` = 'A2-B2-C2'
      THEN 18
      WHEN `t27`.`stability_group` = 'A3-B1-C2'
      THEN 19
      WHEN `t27`.`stability_group` = 'A3-B2-C2'
      THEN 20
      WHEN `t27`.`stability_group` = 'A2-B3-C1'
      THEN 21
      WHEN `t27`.`stability_group` = 'A2-B3-C2'
      THEN 22
      WHEN `t27`.`stability_group` = 'A3-B3-C1'
      THEN 23
      WHEN `t27`.`stability_group` = 'A3-B3-C2'
      THEN 24
      WHEN `t27`.`stability_group` = 'A2-B1-C3'
      THEN 25
      WHEN `t27`.`stability_group` = 'A2-B2-C3'
      THEN 26
      WHEN `t27`.`stability_group` = 'A3-B1-C3'
      THEN 27
      WHEN `t27`.`stability_group` = 'A3-B2-C3'
      THEN 28
      WHEN `t27`.`stability_group` = 'A2-B4-C1'
      THEN 29
      WHEN `t27`.`stability_group` = 'A2-B4-C2'
      THEN 30
      WHEN `t27`.`stability_group` = 'A3-B4-C1'
      THEN 31
      WHEN `t27`.`stability_group` = 'A3-B4-C2'
      THEN 32
      WHEN `t27`.`stability_group` = 'A2-B3-C3'
      THEN 33
      WHEN `t27`.`stability_group` = 'A2-B4-C3'
      THEN 34
      WHEN `t27`.`stability_group` = 'A3-B3-C3'
      THEN 35
      WHEN `t27`.`stability_group` = 'A3-B4-C3'
      THEN 36
      ELSE CAST(NULL AS INT)
    END,
    CAST(NULL AS INT)
  ) AS `priority_rank`,
  IF(
    NOT (
      `t27`.`excluded`
    ),
    CASE
      WHEN `t27`.`stability_group` = 'A1-B1-C1'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B1-C2'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B1-C3'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B2-C1'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B2-C2'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B2-C3'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B3-C1'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B3-C2'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B3-C3'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B4-C1'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B4-C2'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A1-B4-C3'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A2-B1-C1'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A2-B2-C1'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A3-B1-C1'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A3-B2-C1'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A2-B1-C2'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A2-B2-C2'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A3-B1-C2'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A3-B2-C2'
      THEN 'red'
      WHEN `t27`.`stability_group` = 'A2-B3-C1'
      THEN 'blue'
      WHEN `t27`.`stability_group` = 'A2-B3-C2'
      THEN 'blue'
      WHEN `t27`.`stability_group` = 'A3-B3-C1'
      THEN 'blue'
      WHEN `t27`.`stability_group` = 'A3-B3-C2'
      THEN 'blue'
      WHEN `t27`.`stability_group` = 'A2-B1-C3'
      THEN 'blue'
      WHEN `t27`.`stability_group` = 'A2-B2-C3'
      THEN 'blue'
      WHEN `t27`.`stability_group` = 'A3-B1-C3'
      THEN 'blue'
      WHEN `t27`.`stability_group` = 'A3-B2-C3'
      THEN 'blue'
      WHEN `t27`.`stability_group` = 'A2-B4-C1'
      THEN 'green'
      WHEN `t27`.`stability_group` = 'A2-B4-C2'
      THEN 'green'
      WHEN `t27`.`stability_group` = 'A3-B4-C1'
      THEN 'green'
      WHEN `t27`.`stability_group` = 'A3-B4-C2'
      THEN 'green'
      WHEN `t27`.`stability_group` = 'A2-B3-C3'
      THEN 'green'
      WHEN `t27`.`stability_group` = 'A2-B4-C3'
      THEN 'green'
      WHEN `t27`.`stability_group` = 'A3-B3-C3'
      THEN 'green'
      WHEN `t27`.`stability_group` = 'A3-B4-C3'
      THEN 'green'
      ELSE CAST(NULL AS STRING)
    END,
    CAST(NULL AS STRING)
  ) AS `urgency`,
  `t27`.`vad`,
  `t27`.`vip_tier`,
  `t27`.`group_class`,
  `t27`.`value_class`,
  `t27`.`relationship`,
  `t27`.`credit`,
  `t27`.`satisfaction_band`,
  CAST(NULL AS INT) AS `cluster`,
  `t27`.`arpu`,
  `t27`.`arpu_3m`,
  `t27`.`arpu_drop_pct`,
  `t27`.`minutes_drop_pct`,
  `t27`.`online_drop_pct`,
  `t27`.`voice_minutes_3m`,
  `t27`.`data_mb_3m`,
  `t27`.`vas_3m`,
  `t27`.`bb_hours_3m`,
  `t27`.`months_to_contract_end`,
  `t27`.`tenure_months`,
  `t27`.`handset_age_years`
FROM (
  SELECT
    `t26`.`month`,
    `t26`.`subscriber_id`,
    `t26`.`customer_id`,
    `t26`.`account_id`,
    `t26`.`phone`,
    `t26`.`name`,
    `t26`.`id_number`,
    `t26`.`branch_id`,
    `t26`.`district`,
    `t26`.`line_type`,
    `t26`.`status`,
    `t26`.`is_free_account`,
    `t26`.`is_public_paid`,
    `t26`.`is_dedicated_line`,
    `t26`.`do_not_disturb`,
    `t26`.`credit_list`,
    `t26`.`payment_type`,
    `t26`.`group_payment_amount`,
    `t26`.`activation_date`,
    `t26`.`contract_type`,
    `t26`.`contract_start`,
    `t26`.`contract_end`,
    `t26`.`package_name`,
    `t26`.`package_fee`,
    `t26`.`is_converged`,
    `t26`.`arpu`,
    `t26`.`voice_minutes`,
    `t26`.`sms_mms_spend`,
    `t26`.`vas_spend`,
    `t26`.`data_mb`,
    `t26`.`zero_call_days`,
    `t26`.`bb_speed_mbps`,
    `t26`.`bb_online_hours`,
    `t26`.`has_iptv`,
    `t26`.`has_mobile_line`,
    `t26`.`handset_model`,
    `t26`.`handset_generation`,
    `t26`.`handset_smart`,
    `t26`.`handset_first_use_date`,
    `t26`.`vip_level`,
    `t26`.`annual_spend`,
    `t26`.`snapshot_midhigh`,
    `t26`.`group_id`,
    `t26`.`complaints`,
    `t26`.`competitor_contacts`,
    `t26`.`dual_competitor`,
    `t26`.`satisfaction_score`,
    `t26`.`complaints_3m`,
    `t26`.`dropped_call_rate`,
    `t26`.`weak_coverage_share`,
    `t26`.`nps_score`,
    `t26`.`history_months`,
    `t26`.`arpu_3m`,
    `t26`.`arpu_prev3`,
    `t26`.`arpu_drop_pct`,
    `t26`.`voice_minutes_3m`,
    `t26`.`minutes_drop_pct`,
    `t26`.`data_mb_3m`,
    `t26`.`vas_total`,
    `t26`.`vas_3m`,
    `t26`.`bb_hours_3m`,
    `t26`.`online_drop_pct`,
    `t26`.`days_to_contract_end`,
    `t26`.`months_to_contract_end`,
    `t26`.`tenure_days`,
    `t26`.`tenure_months`,
    `t26`.`handset_age_years`,
    `t26`.`annual_spend_est`,
    `t26`.`group_handset_count`,
    `t26`.`group_industry`,
    `t26`.`group_top500`,
    `t26`.`group_annual_spend`,
    `t26`.`exclusion_reason`,
    `t26`.`excluded`,
    `t26`.`a`,
    `t26`.`b`,
    `t26`.`c`,
    `t26`.`d`,
    `t26`.`e`,
    `t26`.`f`,
    `t26`.`g`,
    `t26`.`h`,
    `t26`.`i`,
    `t26`.`high_voice`,
    `t26`.`high_vas`,
    `t26`.`high_data`,
    `t26`.`vad`,
    `t26`.`vip_tier`,
    `t26`.`group_class`,
    CASE
      WHEN COALESCE(COALESCE(`t26`.`line_type` IN ('mobile', 'broadband'), FALSE), FALSE)
      THEN CASE
        WHEN COALESCE(COALESCE(`t26`.`group_class` = 'A', FALSE), FALSE)
        THEN 'key'
        WHEN COALESCE(
          COALESCE(`t26`.`group_class` <> 'A', FALSE)
          AND COALESCE(`t26`.`b` IN ('B1', 'B2'), FALSE),
          FALSE
        )
        THEN 'vip'
        WHEN COALESCE(
          COALESCE(`t26`.`group_class` <> 'A', FALSE) AND COALESCE(`t26`.`b` = 'B3', FALSE),
          FALSE
        )
        THEN 'maintain'
        WHEN COALESCE(
          COALESCE(`t26`.`group_class` <> 'A', FALSE)
          AND COALESCE(`t26`.`b` = 'B4', FALSE)
          AND COALESCE(`t26`.`arpu_3m` >= (
            8.0 + (
              15.0 * `t26`.`complaints`
            )
          ), FALSE),
          FALSE
        )
        THEN 'improve'
        WHEN COALESCE(
          COALESCE(`t26`.`group_class` <> 'A', FALSE)
          AND COALESCE(`t26`.`b` = 'B4', FALSE)
          AND COALESCE(`t26`.`arpu_3m` < (
            8.0 + (
              15.0 * `t26`.`complaints`
            )
          ), FALSE),
          FALSE
        )
        THEN 'abandon'
        ELSE CAST(NULL AS STRING)
      END
      ELSE CAST(NULL AS STRING)
    END AS `value_class`,
    CASE
      WHEN TRUE
      THEN CASE
        WHEN COALESCE(COALESCE(`t26`.`status` = 'cancelled', FALSE), FALSE)
        THEN 'churned'
        WHEN COALESCE(
          COALESCE(`t26`.`status` <> 'cancelled', FALSE)
          AND COALESCE(`t26`.`dual_competitor`, FALSE),
          FALSE
        )
        THEN 'competitor_dual'
        ELSE 'current'
      END
      ELSE CAST(NULL AS STRING)
    END AS `relationship`,
    CASE
      WHEN TRUE
      THEN CASE
        WHEN COALESCE(COALESCE(`t26`.`credit_list` = 'red', FALSE), FALSE)
        THEN 'red'
        WHEN COALESCE(COALESCE(`t26`.`credit_list` = 'grey', FALSE), FALSE)
        THEN 'grey'
        WHEN COALESCE(COALESCE(`t26`.`credit_list` = 'black', FALSE), FALSE)
        THEN 'black'
        ELSE 'none'
      END
      ELSE CAST(NULL AS STRING)
    END AS `credit`,
    CASE
      WHEN TRUE
      THEN CASE
        WHEN COALESCE(COALESCE(`t26`.`satisfaction_score` >= 95, FALSE), FALSE)
        THEN 'S1'
        WHEN COALESCE(
          COALESCE(80 <= `t26`.`satisfaction_score`, FALSE)
          AND COALESCE(`t26`.`satisfaction_score` < 95, FALSE),
          FALSE
        )
        THEN 'S2'
        WHEN COALESCE(
          COALESCE(60 <= `t26`.`satisfaction_score`, FALSE)
          AND COALESCE(`t26`.`satisfaction_score` < 80, FALSE),
          FALSE
        )
        THEN 'S3'
        WHEN COALESCE(
          COALESCE(40 <= `t26`.`satisfaction_score`, FALSE)
          AND COALESCE(`t26`.`satisfaction_score` < 60, FALSE),
          FALSE
        )
        THEN 'S4'
        WHEN COALESCE(COALESCE(`t26`.`satisfaction_score` < 40, FALSE), FALSE)
        THEN 'S5'
        WHEN COALESCE(`t26`.`satisfaction_score` IS NULL OR ISNAN(`t26`.`satisfaction_score`), FALSE)
        THEN 'unknown'
        ELSE CAST(NULL AS STRING)
      END
      ELSE CAST(NULL AS STRING)
    END AS `satisfaction_band`,
    CONCAT(`t26`.`a`, '-', `t26`.`b`, '-', `t26`.`c`) AS `stability_group`,
    CONCAT(
      CONCAT(`t26`.`a`, '-', `t26`.`b`, '-', `t26`.`c`),
      '/',
      CASE
        WHEN `t26`.`line_type` = 'mobile'
        THEN CONCAT(`t26`.`d`, '-', `t26`.`e`, '-', `t26`.`f`)
        WHEN `t26`.`line_type` = 'broadband'
        THEN CONCAT(`t26`.`g`, '-', `t26`.`h`, '-', `t26`.`i`)
        ELSE CAST(NULL AS STRING)
      END
    ) AS `code`
  FROM (
    SELECT
      `t25`.`month`,
      `t25`.`subscriber_id`,
      `t25`.`customer_id`,
      `t25`.`account_id`,
      `t25`.`phone`,
      `t25`.`name`,
      `t25`.`id_number`,
      `t25`.`branch_id`,
      `t25`.`district`,
      `t25`.`line_type`,
      `t25`.`status`,
      `t25`.`is_free_account`,
      `t25`.`is_public_paid`,
      `t25`.`is_dedicated_line`,
      `t25`.`do_not_disturb`,
      `t25`.`credit_list`,
      `t25`.`payment_type`,
      `t25`.`group_payment_amount`,
      `t25`.`activation_date`,
      `t25`.`contract_type`,
      `t25`.`contract_start`,
      `t25`.`contract_end`,
      `t25`.`package_name`,
      `t25`.`package_fee`,
      `t25`.`is_converged`,
      `t25`.`arpu`,
      `t25`.`voice_minutes`,
      `t25`.`sms_mms_spend`,
      `t25`.`vas_spend`,
      `t25`.`data_mb`,
      `t25`.`zero_call_days`,
      `t25`.`bb_speed_mbps`,
      `t25`.`bb_online_hours`,
      `t25`.`has_iptv`,
      `t25`.`has_mobile_line`,
      `t25`.`handset_model`,
      `t25`.`handset_generation`,
      `t25`.`handset_smart`,
      `t25`.`handset_first_use_date`,
      `t25`.`vip_level`,
      `t25`.`annual_spend`,
      `t25`.`snapshot_midhigh`,
      `t25`.`group_id`,
      `t25`.`complaints`,
      `t25`.`competitor_contacts`,
      `t25`.`dual_competitor`,
      `t25`.`satisfaction_score`,
      `t25`.`complaints_3m`,
      `t25`.`dropped_call_rate`,
      `t25`.`weak_coverage_share`,
      `t25`.`nps_score`,
      `t25`.`history_months`,
      `t25`.`arpu_3m`,
      `t25`.`arpu_prev3`,
      `t25`.`arpu_drop_pct`,
      `t25`.`voice_minutes_3m`,
      `t25`.`minutes_drop_pct`,
      `t25`.`data_mb_3m`,
      `t25`.`vas_total`,
      `t25`.`vas_3m`,
      `t25`.`bb_hours_3m`,
      `t25`.`online_drop_pct`,
      `t25`.`days_to_contract_end`,
      `t25`.`months_to_contract_end`,
      `t25`.`tenure_days`,
      `t25`.`tenure_months`,
      `t25`.`handset_age_years`,
      `t25`.`annual_spend_est`,
      `t25`.`group_handset_count`,
      `t25`.`group_industry`,
      `t25`.`group_top500`,
      `t25`.`group_annual_spend`,
      `t25`.`exclusion_reason`,
      `t25`.`excluded`,
      `t25`.`a`,
      `t25`.`b`,
      `t25`.`c`,
      `t25`.`d`,
      `t25`.`e`,
      `t25`.`f`,
      `t25`.`g`,
      `t25`.`h`,
      `t25`.`i`,
      `t25`.`high_voice`,
      `t25`.`high_vas`,
      `t25`.`high_data`,
      CASE
        WHEN COALESCE(
          NOT (
            COALESCE(`t25`.`excluded`, FALSE)
          )
          AND COALESCE(`t25`.`line_type` = 'mobile', FALSE)
          AND COALESCE(`t25`.`b` IN ('B1', 'B2'), FALSE),
          FALSE
        )
        THEN CASE
          WHEN COALESCE(
            COALESCE(`t25`.`high_voice`, FALSE)
            AND COALESCE(`t25`.`high_vas`, FALSE)
            AND COALESCE(`t25`.`high_data`, FALSE),
            FALSE
          )
          THEN 'VAD'
          WHEN COALESCE(
            COALESCE(`t25`.`high_voice`, FALSE)
            AND NOT (
              COALESCE(`t25`.`high_vas`, FALSE)
            )
            AND COALESCE(`t25`.`high_data`, FALSE),
            FALSE
          )
          THEN 'VD'
          WHEN COALESCE(
            COALESCE(`t25`.`high_voice`, FALSE)
            AND COALESCE(`t25`.`high_vas`, FALSE)
            AND NOT (
              COALESCE(`t25`.`high_data`, FALSE)
            ),
            FALSE
          )
          THEN 'VA'
          WHEN COALESCE(
            COALESCE(`t25`.`high_voice`, FALSE)
            AND NOT (
              COALESCE(`t25`.`high_vas`, FALSE)
            )
            AND NOT (
              COALESCE(`t25`.`high_data`, FALSE)
            ),
            FALSE
          )
          THEN 'V'
          WHEN COALESCE(
            NOT (
              COALESCE(`t25`.`high_voice`, FALSE)
            )
            AND COALESCE(`t25`.`high_vas`, FALSE)
            AND COALESCE(`t25`.`high_data`, FALSE),
            FALSE
          )
          THEN 'AD'
          WHEN COALESCE(
            NOT (
              COALESCE(`t25`.`high_voice`, FALSE)
            )
            AND NOT (
              COALESCE(`t25`.`high_vas`, FALSE)
            )
            AND COALESCE(`t25`.`high_data`, FALSE),
            FALSE
          )
          THEN 'D'
          WHEN COALESCE(
            NOT (
              COALESCE(`t25`.`high_voice`, FALSE)
            )
            AND COALESCE(`t25`.`high_vas`, FALSE)
            AND NOT (
              COALESCE(`t25`.`high_data`, FALSE)
            ),
            FALSE
          )
          THEN 'A'
          WHEN COALESCE(
            NOT (
              COALESCE(`t25`.`high_voice`, FALSE)
            )
            AND NOT (
              COALESCE(`t25`.`high_vas`, FALSE)
            )
            AND NOT (
              COALESCE(`t25`.`high_data`, FALSE)
            ),
            FALSE
          )
          THEN 'NVAD'
          ELSE CAST(NULL AS STRING)
        END
        ELSE CAST(NULL AS STRING)
      END AS `vad`,
      CASE
        WHEN TRUE
        THEN CASE
          WHEN COALESCE(COALESCE(`t25`.`annual_spend_est` >= 3000.0, FALSE), FALSE)
          THEN 'diamond'
          WHEN COALESCE(
            COALESCE(1500.0 <= `t25`.`annual_spend_est`, FALSE)
            AND COALESCE(`t25`.`annual_spend_est` < 3000.0, FALSE),
            FALSE
          )
          THEN 'gold'
          WHEN COALESCE(
            COALESCE(666.0 <= `t25`.`annual_spend_est`, FALSE)
            AND COALESCE(`t25`.`annual_spend_est` < 1500.0, FALSE),
            FALSE
          )
          THEN 'silver'
          ELSE 'none'
        END
        ELSE CAST(NULL AS STRING)
      END AS `vip_tier`,
      CASE
        WHEN TRUE
        THEN CASE
          WHEN COALESCE(
            (
              `t25`.`group_id` IS NOT NULL
            )
            AND (
              COALESCE(`t25`.`group_handset_count` >= 500.0, FALSE)
              OR COALESCE(`t25`.`group_annual_spend` >= 1000000.0, FALSE)
              OR COALESCE(`t25`.`group_top500`, FALSE)
              OR COALESCE(
                `t25`.`group_industry` IN (
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
              `t25`.`group_id` IS NOT NULL
            )
            AND NOT (
              COALESCE(`t25`.`group_handset_count` >= 500.0, FALSE)
              OR COALESCE(`t25`.`group_annual_spend` >= 1000000.0, FALSE)
              OR COALESCE(`t25`.`group_top500`, FALSE)
              OR COALESCE(
                `t25`.`group_industry` IN (
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
              COALESCE(`t25`.`group_handset_count` >= 100.0, FALSE)
              OR COALESCE(`t25`.`group_industry` IN ('securities', 'insurance'), FALSE)
            ),
            FALSE
          )
          THEN 'B'
          WHEN COALESCE(
            (
              `t25`.`group_id` IS NOT NULL
            )
            AND NOT (
              COALESCE(`t25`.`group_handset_count` >= 500.0, FALSE)
              OR COALESCE(`t25`.`group_annual_spend` >= 1000000.0, FALSE)
              OR COALESCE(`t25`.`group_top500`, FALSE)
              OR COALESCE(
                `t25`.`group_industry` IN (
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
              COALESCE(`t25`.`group_handset_count` >= 100.0, FALSE)
              OR COALESCE(`t25`.`group_industry` IN ('securities', 'insurance'), FALSE)
            ),
            FALSE
          )
          THEN 'C'
          WHEN COALESCE(`t25`.`group_id` IS NULL, FALSE)
          THEN 'none'
          ELSE CAST(NULL AS STRING)
        END
        ELSE CAST(NULL AS STRING)
      END AS `group_class`
    FROM (
      SELECT
        `t19`.`month`,
        `t19`.`subscriber_id`,
        `t19`.`customer_id`,
        `t19`.`account_id`,
        `t19`.`phone`,
        `t19`.`name`,
        `t19`.`id_number`,
        `t19`.`branch_id`,
        `t19`.`district`,
        `t19`.`line_type`,
        `t19`.`status`,
        `t19`.`is_free_account`,
        `t19`.`is_public_paid`,
        `t19`.`is_dedicated_line`,
        `t19`.`do_not_disturb`,
        `t19`.`credit_list`,
        `t19`.`payment_type`,
        `t19`.`group_payment_amount`,
        `t19`.`activation_date`,
        `t19`.`contract_type`,
        `t19`.`contract_start`,
        `t19`.`contract_end`,
        `t19`.`package_name`,
        `t19`.`package_fee`,
        `t19`.`is_converged`,
        `t19`.`arpu`,
        `t19`.`voice_minutes`,
        `t19`.`sms_mms_spend`,
        `t19`.`vas_spend`,
        `t19`.`data_mb`,
        `t19`.`zero_call_days`,
        `t19`.`bb_speed_mbps`,
        `t19`.`bb_online_hours`,
        `t19`.`has_iptv`,
        `t19`.`has_mobile_line`,
        `t19`.`handset_model`,
        `t19`.`handset_generation`,
        `t19`.`handset_smart`,
        `t19`.`handset_first_use_date`,
        `t19`.`vip_level`,
        `t19`.`annual_spend`,
        `t19`.`snapshot_midhigh`,
        `t19`.`group_id`,
        `t19`.`complaints`,
        `t19`.`competitor_contacts`,
        `t19`.`dual_competitor`,
        `t19`.`satisfaction_score`,
        `t19`.`complaints_3m`,
        `t19`.`dropped_call_rate`,
        `t19`.`weak_coverage_share`,
        `t19`.`nps_score`,
        `t19`.`history_months`,
        `t19`.`arpu_3m`,
        `t19`.`arpu_prev3`,
        `t19`.`arpu_drop_pct`,
        `t19`.`voice_minutes_3m`,
        `t19`.`minutes_drop_pct`,
        `t19`.`data_mb_3m`,
        `t19`.`vas_total`,
        `t19`.`vas_3m`,
        `t19`.`bb_hours_3m`,
        `t19`.`online_drop_pct`,
        `t19`.`days_to_contract_end`,
        `t19`.`months_to_contract_end`,
        `t19`.`tenure_days`,
        `t19`.`tenure_months`,
        `t19`.`handset_age_years`,
        `t19`.`annual_spend_est`,
        `t19`.`group_handset_count`,
        `t19`.`group_industry`,
        `t19`.`group_top500`,
        `t19`.`group_annual_spend`,
        `t19`.`exclusion_reason`,
        `t19`.`excluded`,
        `t19`.`a`,
        `t19`.`b`,
        `t19`.`c`,
        `t19`.`d`,
        `t19`.`e`,
        `t19`.`f`,
        `t19`.`g`,
        `t19`.`h`,
        `t19`.`i`,
        COALESCE(`t24`.`high_voice`, FALSE) AS `high_voice`,
        COALESCE(`t24`.`high_vas`, FALSE) AS `high_vas`,
        COALESCE(`t24`.`high_data`, FALSE) AS `high_data`
      FROM (
        SELECT
          `t17`.`month`,
          `t17`.`subscriber_id`,
          `t17`.`customer_id`,
          `t17`.`account_id`,
          `t17`.`phone`,
          `t17`.`name`,
          `t17`.`id_number`,
          `t17`.`branch_id`,
          `t17`.`district`,
          `t17`.`line_type`,
          `t17`.`status`,
          `t17`.`is_free_account`,
          `t17`.`is_public_paid`,
          `t17`.`is_dedicated_line`,
          `t17`.`do_not_disturb`,
          `t17`.`credit_list`,
          `t17`.`payment_type`,
          `t17`.`group_payment_amount`,
          `t17`.`activation_date`,
          `t17`.`contract_type`,
          `t17`.`contract_start`,
          `t17`.`contract_end`,
          `t17`.`package_name`,
          `t17`.`package_fee`,
          `t17`.`is_converged`,
          `t17`.`arpu`,
          `t17`.`voice_minutes`,
          `t17`.`sms_mms_spend`,
          `t17`.`vas_spend`,
          `t17`.`data_mb`,
          `t17`.`zero_call_days`,
          `t17`.`bb_speed_mbps`,
          `t17`.`bb_online_hours`,
          `t17`.`has_iptv`,
          `t17`.`has_mobile_line`,
          `t17`.`handset_model`,
          `t17`.`handset_generation`,
          `t17`.`handset_smart`,
          `t17`.`handset_first_use_date`,
          `t17`.`vip_level`,
          `t17`.`annual_spend`,
          `t17`.`snapshot_midhigh`,
          `t17`.`group_id`,
          `t17`.`complaints`,
          `t17`.`competitor_contacts`,
          `t17`.`dual_competitor`,
          `t17`.`satisfaction_score`,
          `t17`.`complaints_3m`,
          `t17`.`dropped_call_rate`,
          `t17`.`weak_coverage_share`,
          `t17`.`nps_score`,
          `t17`.`history_months`,
          `t17`.`arpu_3m`,
          `t17`.`arpu_prev3`,
          `t17`.`arpu_drop_pct`,
          `t17`.`voice_minutes_3m`,
          `t17`.`minutes_drop_pct`,
          `t17`.`data_mb_3m`,
          `t17`.`vas_total`,
          `t17`.`vas_3m`,
          `t17`.`bb_hours_3m`,
          `t17`.`online_drop_pct`,
          `t17`.`days_to_contract_end`,
          `t17`.`months_to_contract_end`,
          `t17`.`tenure_days`,
          `t17`.`tenure_months`,
          `t17`.`handset_age_years`,
          `t17`.`annual_spend_est`,
          `t17`.`group_handset_count`,
          `t17`.`group_industry`,
          `t17`.`group_top500`,
          `t17`.`group_annual_spend`,
          `t17`.`exclusion_reason`,
          `t17`.`exclusion_reason` IS NOT NULL AS `excluded`,
          CASE
            WHEN TRUE AND COALESCE(`t17`.`line_type` = 'mobile', FALSE)
            THEN CASE
              WHEN COALESCE(
                COALESCE(`t17`.`contract_type` <> 'none', FALSE)
                AND (
                  COALESCE(0 <= `t17`.`months_to_contract_end`, FALSE)
                  AND COALESCE(`t17`.`months_to_contract_end` < 3.0, FALSE)
                ),
                FALSE
              )
              THEN 'A1'
              WHEN COALESCE(
                (
                  `t17`.`contract_type` IS NULL
                )
                OR COALESCE(`t17`.`contract_type` = 'none', FALSE)
                OR (
                  `t17`.`months_to_contract_end` IS NULL OR ISNAN(`t17`.`months_to_contract_end`)
                )
                OR COALESCE(`t17`.`months_to_contract_end` < 0, FALSE),
                FALSE
              )
              THEN 'A2'
              WHEN COALESCE(
                COALESCE(`t17`.`contract_type` <> 'none', FALSE)
                AND COALESCE(`t17`.`months_to_contract_end` >= 3.0, FALSE),
                FALSE
              )
              THEN 'A3'
              ELSE CAST(NULL AS STRING)
            END
            WHEN TRUE AND COALESCE(`t17`.`line_type` = 'broadband', FALSE)
            THEN CASE
              WHEN COALESCE(
                COALESCE(`t17`.`contract_type` <> 'none', FALSE)
                AND (
                  COALESCE(0 <= `t17`.`months_to_contract_end`, FALSE)
                  AND COALESCE(`t17`.`months_to_contract_end` < 3.0, FALSE)
                ),
                FALSE
              )
              THEN 'A1'
              WHEN COALESCE(
                (
                  `t17`.`contract_type` IS NULL
                )
                OR COALESCE(`t17`.`contract_type` = 'none', FALSE)
                OR (
                  `t17`.`months_to_contract_end` IS NULL OR ISNAN(`t17`.`months_to_contract_end`)
                )
                OR COALESCE(`t17`.`months_to_contract_end` < 0, FALSE),
                FALSE
              )
              THEN 'A2'
              WHEN COALESCE(
                COALESCE(`t17`.`contract_type` <> 'none', FALSE)
                AND COALESCE(`t17`.`months_to_contract_end` >= 3.0, FALSE),
                FALSE
              )
              THEN 'A3'
              ELSE CAST(NULL AS STRING)
            END
            ELSE CAST(NULL AS STRING)
          END AS `a`,
          CASE
            WHEN TRUE AND COALESCE(`t17`.`line_type` = 'mobile', FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE(`t17`.`snapshot_midhigh`, FALSE), FALSE)
              THEN 'B1'
              WHEN COALESCE(
                NOT (
                  COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                )
                AND COALESCE(`t17`.`arpu_3m` >= 80.0, FALSE),
                FALSE
              )
              THEN 'B2'
              WHEN COALESCE(
                NOT (
                  COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                )
                AND (
                  COALESCE(20.0 <= `t17`.`arpu_3m`, FALSE)
                  AND COALESCE(`t17`.`arpu_3m` < 80.0, FALSE)
                ),
                FALSE
              )
              THEN 'B3'
              WHEN COALESCE(
                NOT (
                  COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                )
                AND COALESCE(`t17`.`arpu_3m` < 20.0, FALSE),
                FALSE
              )
              THEN 'B4'
              ELSE CAST(NULL AS STRING)
            END
            WHEN TRUE AND COALESCE(`t17`.`line_type` = 'broadband', FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE(`t17`.`snapshot_midhigh`, FALSE), FALSE)
              THEN 'B1'
              WHEN COALESCE(
                NOT (
                  COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                )
                AND COALESCE(`t17`.`arpu_3m` >= 120.0, FALSE),
                FALSE
              )
              THEN 'B2'
              WHEN COALESCE(
                NOT (
                  COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                )
                AND (
                  COALESCE(30.0 <= `t17`.`arpu_3m`, FALSE)
                  AND COALESCE(`t17`.`arpu_3m` < 120.0, FALSE)
                ),
                FALSE
              )
              THEN 'B3'
              WHEN COALESCE(
                NOT (
                  COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                )
                AND COALESCE(`t17`.`arpu_3m` < 30.0, FALSE),
                FALSE
              )
              THEN 'B4'
              ELSE CAST(NULL AS STRING)
            END
            ELSE CAST(NULL AS STRING)
          END AS `b`,
          CASE
            WHEN TRUE AND COALESCE(`t17`.`line_type` = 'mobile', FALSE)
            THEN CASE
              WHEN COALESCE(
                COALESCE(`t17`.`arpu_drop_pct` >= 30.0, FALSE)
                OR COALESCE(`t17`.`minutes_drop_pct` >= 30.0, FALSE),
                FALSE
              )
              THEN 'C1'
              WHEN COALESCE(
                NOT (
                  COALESCE(`t17`.`arpu_drop_pct` >= 30.0, FALSE)
                  OR COALESCE(`t17`.`minutes_drop_pct` >= 30.0, FALSE)
                )
                AND (
                  COALESCE(`t17`.`payment_type` = 'corporate', FALSE)
                  OR COALESCE(`t17`.`group_payment_amount` > 50.0, FALSE)
                  OR COALESCE(`t17`.`is_converged`, FALSE)
                ),
                FALSE
              )
              THEN 'C3'
              ELSE 'C2'
            END
            WHEN TRUE AND COALESCE(`t17`.`line_type` = 'broadband', FALSE)
            THEN CASE
              WHEN COALESCE(
                COALESCE(`t17`.`arpu_drop_pct` >= 30.0, FALSE)
                OR COALESCE(`t17`.`online_drop_pct` >= 30.0, FALSE),
                FALSE
              )
              THEN 'C1'
              WHEN COALESCE(
                NOT (
                  COALESCE(`t17`.`arpu_drop_pct` >= 30.0, FALSE)
                  OR COALESCE(`t17`.`online_drop_pct` >= 30.0, FALSE)
                )
                AND (
                  COALESCE(`t17`.`payment_type` = 'corporate', FALSE)
                  OR COALESCE(`t17`.`is_converged`, FALSE)
                ),
                FALSE
              )
              THEN 'C3'
              ELSE 'C2'
            END
            ELSE CAST(NULL AS STRING)
          END AS `c`,
          CASE
            WHEN COALESCE(COALESCE(`t17`.`line_type` = 'mobile', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(
                COALESCE(`t17`.`handset_smart`, FALSE)
                AND COALESCE(`t17`.`handset_generation` IN ('3g', '4g', '5g'), FALSE),
                FALSE
              )
              THEN 'D1'
              WHEN COALESCE(
                NOT (
                  COALESCE(`t17`.`handset_smart`, FALSE)
                )
                AND COALESCE(`t17`.`handset_generation` IN ('3g', '4g', '5g'), FALSE),
                FALSE
              )
              THEN 'D2'
              WHEN COALESCE(
                (
                  `t17`.`handset_generation` IS NULL
                )
                OR COALESCE(`t17`.`handset_generation` = '2g', FALSE),
                FALSE
              )
              THEN 'D3'
              ELSE CAST(NULL AS STRING)
            END
            ELSE CAST(NULL AS STRING)
          END AS `d`,
          CASE
            WHEN COALESCE(COALESCE(`t17`.`line_type` = 'mobile', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE(`t17`.`handset_age_years` >= 1.5, FALSE), FALSE)
              THEN 'E1'
              WHEN COALESCE(
                COALESCE(1.0 < `t17`.`handset_age_years`, FALSE)
                AND COALESCE(`t17`.`handset_age_years` < 1.5, FALSE),
                FALSE
              )
              THEN 'E2'
              WHEN COALESCE(
                `t17`.`handset_age_years` IS NULL
                OR ISNAN(`t17`.`handset_age_years`)
                OR COALESCE(`t17`.`handset_age_years` <= 1.0, FALSE),
                FALSE
              )
              THEN 'E3'
              ELSE CAST(NULL AS STRING)
            END
            ELSE CAST(NULL AS STRING)
          END AS `e`,
          CASE
            WHEN COALESCE(COALESCE(`t17`.`line_type` = 'mobile', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE(`t17`.`data_mb_3m` >= 100.0, FALSE), FALSE)
              THEN 'F1'
              WHEN COALESCE(
                COALESCE(30.0 <= `t17`.`data_mb_3m`, FALSE)
                AND COALESCE(`t17`.`data_mb_3m` < 100.0, FALSE),
                FALSE
              )
              THEN 'F2'
              WHEN COALESCE(
                `t17`.`data_mb_3m` IS NULL
                OR ISNAN(`t17`.`data_mb_3m`)
                OR COALESCE(`t17`.`data_mb_3m` < 30.0, FALSE),
                FALSE
              )
              THEN 'F3'
              ELSE CAST(NULL AS STRING)
            END
            ELSE CAST(NULL AS STRING)
          END AS `f`,
          CASE
            WHEN COALESCE(COALESCE(`t17`.`line_type` = 'broadband', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE(`t17`.`has_mobile_line`, FALSE), FALSE)
              THEN 'G1'
              WHEN COALESCE(NOT (
                COALESCE(`t17`.`has_mobile_line`, FALSE)
              ), FALSE)
              THEN 'G2'
              ELSE CAST(NULL AS STRING)
            END
            ELSE CAST(NULL AS STRING)
          END AS `g`,
          CASE
            WHEN COALESCE(COALESCE(`t17`.`line_type` = 'broadband', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE(`t17`.`bb_speed_mbps` >= 4.0, FALSE), FALSE)
              THEN 'H1'
              WHEN COALESCE(
                COALESCE(2.0 <= `t17`.`bb_speed_mbps`, FALSE)
                AND COALESCE(`t17`.`bb_speed_mbps` < 4.0, FALSE),
                FALSE
              )
              THEN 'H2'
              WHEN COALESCE(
                `t17`.`bb_speed_mbps` IS NULL
                OR ISNAN(`t17`.`bb_speed_mbps`)
                OR COALESCE(`t17`.`bb_speed_mbps` < 2.0, FALSE),
                FALSE
              )
              THEN 'H3'
              ELSE CAST(NULL AS STRING)
            END
            ELSE CAST(NULL AS STRING)
          END AS `h`,
          CASE
            WHEN COALESCE(COALESCE(`t17`.`line_type` = 'broadband', FALSE), FALSE)
            THEN CASE
              WHEN COALESCE(COALESCE(`t17`.`has_iptv`, FALSE), FALSE)
              THEN 'I1'
              WHEN COALESCE(NOT (
                COALESCE(`t17`.`has_iptv`, FALSE)
              ), FALSE)
              THEN 'I2'
              ELSE CAST(NULL AS STRING)
            END
            ELSE CAST(NULL AS STRING)
          END AS `i`
        FROM `t16` AS `t17`
      ) AS `t19`
      LEFT OUTER JOIN (
        SELECT
          `t22`.`_fk`,
          `t22`.`_p_high_voice`
          AND (
            `t22`.`_r_high_voice` >= 0.7
          )
          AND (
            `t22`.`_m_high_voice` > 0
          ) AS `high_voice`,
          `t22`.`_p_high_vas`
          AND (
            `t22`.`_r_high_vas` >= 0.7
          )
          AND (
            `t22`.`_m_high_vas` > 0
          ) AS `high_vas`,
          `t22`.`_p_high_data`
          AND (
            `t22`.`_r_high_data` >= 0.7
          )
          AND (
            `t22`.`_m_high_data` > 0
          ) AS `high_data`
        FROM (
          SELECT
            `t21`.`_fk`,
            `t21`.`_m_high_voice`,
            `t21`.`_p_high_voice`,
            `t21`.`_m_high_vas`,
            `t21`.`_p_high_vas`,
            `t21`.`_m_high_data`,
            `t21`.`_p_high_data`,
            PERCENT_RANK() OVER (PARTITION BY `t21`.`_p_high_voice` ORDER BY `t21`.`_m_high_voice` ASC NULLS LAST) AS `_r_high_voice`,
            PERCENT_RANK() OVER (PARTITION BY `t21`.`_p_high_vas` ORDER BY `t21`.`_m_high_vas` ASC NULLS LAST) AS `_r_high_vas`,
            PERCENT_RANK() OVER (PARTITION BY `t21`.`_p_high_data` ORDER BY `t21`.`_m_high_data` ASC NULLS LAST) AS `_r_high_data`
          FROM (
            SELECT
              *
            FROM (
              SELECT
                `t17`.`subscriber_id` AS `_fk`,
                COALESCE(`t17`.`voice_minutes_3m`, 0.0) AS `_m_high_voice`,
                COALESCE(
                  NOT (
                    COALESCE(`t17`.`exclusion_reason` IS NOT NULL, FALSE)
                  )
                  AND COALESCE(`t17`.`line_type` = 'mobile', FALSE)
                  AND COALESCE(
                    CASE
                      WHEN TRUE AND COALESCE(`t17`.`line_type` = 'mobile', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE(`t17`.`snapshot_midhigh`, FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` >= 80.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND (
                            COALESCE(20.0 <= `t17`.`arpu_3m`, FALSE)
                            AND COALESCE(`t17`.`arpu_3m` < 80.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` < 20.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS STRING)
                      END
                      WHEN TRUE AND COALESCE(`t17`.`line_type` = 'broadband', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE(`t17`.`snapshot_midhigh`, FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` >= 120.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND (
                            COALESCE(30.0 <= `t17`.`arpu_3m`, FALSE)
                            AND COALESCE(`t17`.`arpu_3m` < 120.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` < 30.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS STRING)
                      END
                      ELSE CAST(NULL AS STRING)
                    END IN ('B1', 'B2'),
                    FALSE
                  ),
                  FALSE
                ) AS `_p_high_voice`,
                COALESCE(`t17`.`vas_3m`, 0.0) AS `_m_high_vas`,
                COALESCE(
                  NOT (
                    COALESCE(`t17`.`exclusion_reason` IS NOT NULL, FALSE)
                  )
                  AND COALESCE(`t17`.`line_type` = 'mobile', FALSE)
                  AND COALESCE(
                    CASE
                      WHEN TRUE AND COALESCE(`t17`.`line_type` = 'mobile', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE(`t17`.`snapshot_midhigh`, FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` >= 80.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND (
                            COALESCE(20.0 <= `t17`.`arpu_3m`, FALSE)
                            AND COALESCE(`t17`.`arpu_3m` < 80.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` < 20.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS STRING)
                      END
                      WHEN TRUE AND COALESCE(`t17`.`line_type` = 'broadband', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE(`t17`.`snapshot_midhigh`, FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` >= 120.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND (
                            COALESCE(30.0 <= `t17`.`arpu_3m`, FALSE)
                            AND COALESCE(`t17`.`arpu_3m` < 120.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` < 30.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS STRING)
                      END
                      ELSE CAST(NULL AS STRING)
                    END IN ('B1', 'B2'),
                    FALSE
                  ),
                  FALSE
                ) AS `_p_high_vas`,
                COALESCE(`t17`.`data_mb_3m`, 0.0) AS `_m_high_data`,
                COALESCE(
                  NOT (
                    COALESCE(`t17`.`exclusion_reason` IS NOT NULL, FALSE)
                  )
                  AND COALESCE(`t17`.`line_type` = 'mobile', FALSE)
                  AND COALESCE(
                    CASE
                      WHEN TRUE AND COALESCE(`t17`.`line_type` = 'mobile', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE(`t17`.`snapshot_midhigh`, FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` >= 80.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND (
                            COALESCE(20.0 <= `t17`.`arpu_3m`, FALSE)
                            AND COALESCE(`t17`.`arpu_3m` < 80.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` < 20.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS STRING)
                      END
                      WHEN TRUE AND COALESCE(`t17`.`line_type` = 'broadband', FALSE)
                      THEN CASE
                        WHEN COALESCE(COALESCE(`t17`.`snapshot_midhigh`, FALSE), FALSE)
                        THEN 'B1'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` >= 120.0, FALSE),
                          FALSE
                        )
                        THEN 'B2'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND (
                            COALESCE(30.0 <= `t17`.`arpu_3m`, FALSE)
                            AND COALESCE(`t17`.`arpu_3m` < 120.0, FALSE)
                          ),
                          FALSE
                        )
                        THEN 'B3'
                        WHEN COALESCE(
                          NOT (
                            COALESCE(`t17`.`snapshot_midhigh`, FALSE)
                          )
                          AND COALESCE(`t17`.`arpu_3m` < 30.0, FALSE),
                          FALSE
                        )
                        THEN 'B4'
                        ELSE CAST(NULL AS STRING)
                      END
                      ELSE CAST(NULL AS STRING)
                    END IN ('B1', 'B2'),
                    FALSE
                  ),
                  FALSE
                ) AS `_p_high_data`
              FROM `t16` AS `t17`
            ) AS `t20`
            WHERE
              `t20`.`_p_high_voice` OR `t20`.`_p_high_vas` OR `t20`.`_p_high_data`
          ) AS `t21`
        ) AS `t22`
      ) AS `t24`
        ON `t19`.`subscriber_id` = `t24`.`_fk`
    ) AS `t25`
  ) AS `t26`
) AS `t27`
