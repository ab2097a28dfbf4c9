"""Static vocabularies of the synthetic operator: branches, districts, names, handsets, industries.

Everything here is small (tens to thousands of entries); per-subscriber values are drawn as
indices into these tuples so generation stays vectorized.
"""

from __future__ import annotations

# (branch_id, name_en, name_zh, area code, weight, id-number region prefix)
BRANCHES: tuple[tuple[str, str, str, str, float, str], ...] = (
    ("HZ", "Hangzhou", "杭州", "0571", 0.19, "330100"),
    ("NB", "Ningbo", "宁波", "0574", 0.14, "330200"),
    ("WZ", "Wenzhou", "温州", "0577", 0.13, "330300"),
    ("JX", "Jiaxing", "嘉兴", "0573", 0.07, "330400"),
    ("HU", "Huzhou", "湖州", "0572", 0.05, "330500"),
    ("SX", "Shaoxing", "绍兴", "0575", 0.08, "330600"),
    ("JH", "Jinhua", "金华", "0579", 0.10, "330700"),
    ("QZ", "Quzhou", "衢州", "0570", 0.04, "330800"),
    ("ZS", "Zhoushan", "舟山", "0580", 0.02, "330900"),
    ("TZ", "Taizhou", "台州", "0576", 0.09, "331000"),
    ("LS", "Lishui", "丽水", "0578", 0.04, "331100"),
    ("YW", "Yiwu", "义乌", "0579", 0.05, "330782"),
)

# Districts per branch (区县); drawn uniformly inside the branch, the first one twice as often.
DISTRICTS: dict[str, tuple[str, ...]] = {
    "HZ": (
        "上城区",
        "拱墅区",
        "西湖区",
        "滨江区",
        "萧山区",
        "余杭区",
        "临平区",
        "富阳区",
        "桐庐县",
    ),
    "NB": (
        "海曙区",
        "江北区",
        "北仑区",
        "镇海区",
        "鄞州区",
        "奉化区",
        "余姚市",
        "慈溪市",
        "宁海县",
    ),
    "WZ": ("鹿城区", "龙湾区", "瓯海区", "洞头区", "瑞安市", "乐清市", "永嘉县", "苍南县"),
    "JX": ("南湖区", "秀洲区", "嘉善县", "海盐县", "海宁市", "平湖市", "桐乡市"),
    "HU": ("吴兴区", "南浔区", "德清县", "长兴县", "安吉县"),
    "SX": ("越城区", "柯桥区", "上虞区", "诸暨市", "嵊州市", "新昌县"),
    "JH": ("婺城区", "金东区", "兰溪市", "东阳市", "永康市", "武义县", "浦江县"),
    "QZ": ("柯城区", "衢江区", "江山市", "常山县", "开化县", "龙游县"),
    "ZS": ("定海区", "普陀区", "岱山县", "嵊泗县"),
    "TZ": ("椒江区", "黄岩区", "路桥区", "温岭市", "临海市", "玉环市", "天台县"),
    "LS": ("莲都区", "龙泉市", "青田县", "缙云县", "遂昌县", "松阳县"),
    "YW": ("稠城街道", "北苑街道", "江东街道", "佛堂镇", "苏溪镇"),
}

SURNAMES: tuple[str, ...] = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN_CHARS: tuple[str, ...] = tuple(
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂英华玉萍红娥玲芬燕彬辉鑫宇浩然子轩梓涵欣怡思雨佳琪俊杰志强建国晓东海波文斌建华丹丹婷婷雪梅春梅晨曦博文嘉怡"
)

# (model, generation, smart probability)
HANDSETS: tuple[tuple[str, str], ...] = (
    ("Huawei Mate 60", "5g"),
    ("Huawei P60", "5g"),
    ("Xiaomi 14", "5g"),
    ("iPhone 15", "5g"),
    ("iPhone 14", "5g"),
    ("OPPO Reno11", "5g"),
    ("vivo X100", "5g"),
    ("Honor 100", "5g"),
    ("iPhone 11", "4g"),
    ("Redmi Note 9", "4g"),
    ("OPPO A57", "4g"),
    ("vivo Y33s", "4g"),
    ("Huawei Enjoy 10", "4g"),
    ("Honor Play 4T", "4g"),
    ("Samsung Galaxy A50", "4g"),
    ("Coolpad 8729", "3g"),
    ("ZTE U880", "3g"),
    ("Lenovo A750", "3g"),
    ("Nokia 105", "2g"),
    ("Nokia 1280", "2g"),
    ("Tianyu E1", "2g"),
)

INDUSTRIES: tuple[tuple[str, float], ...] = (
    # (industry, share of groups); key industries of the seed make a group class A
    ("government", 0.012),
    ("military", 0.002),
    ("media", 0.004),
    ("telecom", 0.002),
    ("post", 0.002),
    ("bank", 0.006),
    ("power", 0.003),
    ("water", 0.002),
    ("gas", 0.002),
    ("roads", 0.002),
    ("airports", 0.001),
    ("railways", 0.002),
    ("securities", 0.010),
    ("insurance", 0.015),
    ("manufacturing", 0.25),
    ("retail", 0.20),
    ("education", 0.08),
    ("healthcare", 0.06),
    ("construction", 0.10),
    ("logistics", 0.08),
    ("hospitality", 0.085),
    ("it_services", 0.07),
)
KEY_INDUSTRIES = frozenset(
    {
        "government",
        "military",
        "media",
        "telecom",
        "post",
        "bank",
        "power",
        "water",
        "gas",
        "roads",
        "airports",
        "railways",
    }
)
B_INDUSTRIES = frozenset({"securities", "insurance"})

GROUP_NAME_PARTS = (
    (
        "华",
        "恒",
        "永",
        "金",
        "鑫",
        "东",
        "瑞",
        "宏",
        "嘉",
        "新",
        "中",
        "天",
        "博",
        "远",
        "盛",
        "联",
    ),
    (
        "达",
        "安",
        "泰",
        "源",
        "信",
        "利",
        "通",
        "海",
        "成",
        "鼎",
        "兴",
        "辉",
        "明",
        "峰",
        "诚",
        "德",
    ),
)
INDUSTRY_ZH = {
    "government": "人民政府办公室",
    "military": "警备区后勤部",
    "media": "传媒集团",
    "telecom": "通信工程有限公司",
    "post": "邮政分公司",
    "bank": "银行分行",
    "power": "供电公司",
    "water": "自来水有限公司",
    "gas": "燃气有限公司",
    "roads": "交通投资集团",
    "airports": "机场有限公司",
    "railways": "铁路车务段",
    "securities": "证券营业部",
    "insurance": "保险分公司",
    "manufacturing": "制造有限公司",
    "retail": "商贸有限公司",
    "education": "学校",
    "healthcare": "医院",
    "construction": "建设集团",
    "logistics": "物流有限公司",
    "hospitality": "酒店管理有限公司",
    "it_services": "科技有限公司",
}

MOBILE_PACKAGE_FEES = (8, 19, 29, 39, 59, 79, 99, 129, 169, 199, 239, 299, 399, 599)
BROADBAND_PACKAGE_FEES = (30, 50, 69, 99, 129, 159, 199, 299)
BROADBAND_SPEEDS = (1, 2, 4, 10, 20, 50, 100, 200, 300, 500, 1000)
BROADBAND_SPEED_SHARES = (0.02, 0.05, 0.06, 0.04, 0.05, 0.06, 0.24, 0.12, 0.10, 0.16, 0.10)
