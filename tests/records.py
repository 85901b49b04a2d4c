"""The one small record set every test uses: 10 demands, 13 supplies, one cooperation, six accounts.

A realistic slice of the two lists, small enough that the real model embeds it in a couple of seconds
and a reader can hold it in their head. The api instance (api_support.py), the site seed
(site_support.py) and the engine tests all load it.
- Nine demands each have the one supply that solves it (TRUE_PAIRS), ranked first both ways. Four
  supplies (S2021-209 … -212) solve nothing here; the others are each other's near misses (the
  carbon-fibre forming process S2021-203 beside the fishing rod D2021-107's prepreg, say).
- D2021-110 is the demand nothing on the list solves (UNSOLVED), the gap the engine must find.
- Two enterprises and two platforms own most records, so every permission rule has an owner and a
  stranger: HUALIAN owns D2021-101, -102; HAIDA -103, -104; HIT S2021-201, -203, -204, -213; SDU
  S2021-202, -205 … -208 (OWN_ and OTHER_ below). So D2021-102 × S2021-202 is a true pair that
  concerns the enterprise account and not the platform account; S2021-201 is proposed to others'
  demands (D2021-105, -107) too.
- D2021-109 × S2021-213 is already a cooperation; D2021-104 is being negotiated, D2021-108 is closed.
"""
from __future__ import annotations

from service import auth, store

HUALIAN = "威海华联精密模具有限公司"
HAIDA = "荣成海达食品有限公司"
LINGXUN = "威海翎迅智能终端有限公司"
HIT = "哈尔滨工业大学（威海）创新研究院"
SDU = "山东大学威海工业技术研究院"

DEMANDS = [
    {"id": "D2021-101", "title": "注塑件表面缩痕导致良品率低", "enterprise": HUALIAN,
     "description": "我们生产汽车内饰注塑件，壁厚不均的部位经常出现缩痕和气纹，良品率只有85%左右。"
                    "想优化模具冷却水路和保压工艺，希望良品率提高到95%以上。",
     "industry_cluster": "先进装备与智能制造", "region": "环翠区", "keywords": ["注塑", "缩痕", "模具冷却", "保压"],
     "budget_wan": 40, "cooperation_mode": "技术服务", "contact": "王工 139****1201", "status": "征集中",
     "posted_at": "2021-03-02"},
    {"id": "D2021-102", "title": "精密模具型腔磨损在线检测", "enterprise": HUALIAN,
     "description": "模具型腔磨损后注塑件尺寸超差、表面出现划痕和缺料，目前靠人工抽检发现，滞后严重。"
                    "希望用机器视觉在线检测产品尺寸和表面缺陷，及时提示修模。",
     "industry_cluster": "先进装备与智能制造", "region": "环翠区", "keywords": ["机器视觉", "缺陷检测", "模具磨损"],
     "budget_wan": 60, "cooperation_mode": "合作开发", "contact": "王工 139****1201", "status": "征集中",
     "posted_at": "2021-03-15"},
    {"id": "D2021-103", "title": "海参加工副产物高值化利用", "enterprise": HAIDA,
     "description": "海参加工中产生大量海参内脏和煮汁，目前直接废弃。希望提取海参多糖、皂苷等活性成分，"
                    "开发保健食品原料，实现副产物高值化利用。",
     "industry_cluster": "海洋生物与健康食品", "region": "荣成市", "keywords": ["海参", "副产物", "多糖", "活性成分"],
     "budget_wan": 80, "cooperation_mode": "技术转让", "contact": "李经理 137****3321", "status": "征集中",
     "posted_at": "2021-04-08"},
    {"id": "D2021-104", "title": "即食海产品常温保鲜延长货架期", "enterprise": HAIDA,
     "description": "即食鱿鱼、海带等产品常温货架期只有3个月，容易胀袋和变色。希望采用新型杀菌和保鲜技术，"
                    "在不加防腐剂的情况下把货架期延长到9个月。",
     "industry_cluster": "海洋生物与健康食品", "region": "荣成市", "keywords": ["保鲜", "杀菌", "货架期", "即食海产品"],
     "budget_wan": 30, "cooperation_mode": "技术服务", "contact": "李经理 137****3321", "status": "对接中",
     "posted_at": "2021-04-20"},
    {"id": "D2021-105", "title": "碳纤维复合材料自行车架成型缺陷", "enterprise": "威海光威运动器材有限公司",
     "description": "碳纤维自行车架热压成型后内部有孔隙和褶皱，疲劳测试不合格。需要优化铺层设计和"
                    "内压成型工艺，降低孔隙率。",
     "industry_cluster": "碳纤维等复合材料", "region": "高技术产业开发区", "keywords": ["碳纤维", "复合材料", "孔隙率", "铺层"],
     "budget_wan": 50, "cooperation_mode": "合作开发", "contact": "张工 135****7788", "status": "征集中",
     "posted_at": "2021-05-06"},
    {"id": "D2021-106", "title": "医用敷料抗菌涂层工艺", "enterprise": "威海洁瑞医用制品有限公司",
     "description": "需要在医用纱布和无纺布敷料表面制备银离子抗菌涂层，要求抗菌率99%以上，"
                    "涂层牢固不脱落，符合医疗器械生物相容性要求。",
     "industry_cluster": "新医药与医疗器械", "region": "文登区", "keywords": ["抗菌涂层", "医用敷料", "银离子"],
     "budget_wan": 45, "cooperation_mode": "技术转让", "contact": "赵主任 136****5566", "status": "征集中",
     "posted_at": "2021-05-18"},
    {"id": "D2021-107", "title": "渔具碳素钓竿轻量化设计", "enterprise": "威海光威运动器材有限公司",
     "description": "高端碳素钓竿希望在保持强度的同时减重15%，需要仿真分析和新型预浸料选材方案。",
     "industry_cluster": "时尚与休闲运动产品", "region": "高技术产业开发区", "keywords": ["钓竿", "轻量化", "预浸料", "仿真"],
     "budget_wan": 25, "cooperation_mode": "技术服务", "contact": "张工 135****7788", "status": "征集中",
     "posted_at": "2021-06-01"},
    {"id": "D2021-108", "title": "康养社区老人跌倒智能监测", "enterprise": "威海颐和康养服务有限公司",
     "description": "康养社区需要不侵犯隐私的老人跌倒监测方案，希望用毫米波雷达识别跌倒并及时报警，"
                    "误报率低于5%。",
     "industry_cluster": "康养旅游", "region": "乳山市", "keywords": ["跌倒监测", "毫米波雷达", "养老"],
     "budget_wan": 20, "cooperation_mode": "技术服务", "contact": "孙院长 133****9900", "status": "已关闭",
     "posted_at": "2021-06-10"},
    {"id": "D2021-109", "title": "便携票据打印机长单据后半段字迹发灰", "enterprise": LINGXUN,
     "description": "我们生产便携式小票/标签打印机。客户反映连续打印长单据（超过1.5米）时，后半段字迹明显发灰，一维条码扫不出来，"
                    "冬天室外0℃以下更严重。换过两家的打印头也没解决，怀疑是驱动时序跟不上。现在是固定脉宽驱动，没有做温度补偿。"
                    "希望专家帮我们改驱动策略，让整条单据浓度一致，条码一次识读率达到99%以上。",
     "industry_cluster": "新一代信息技术", "region": "火炬高技术产业开发区", "keywords": ["热敏打印", "打印浓度", "条码识读", "低温打印"],
     "budget_wan": 40, "cooperation_mode": "委托开发", "contact": "史总 139****8719", "status": "已合作",
     "posted_at": "2021-06-14"},
    {"id": "D2021-110", "title": "深海油气钻井PDC钻头国产化", "enterprise": "威海蓝海钻采装备有限公司",
     "description": "海上平台钻三千米以上的深井，PDC钻头全靠进口，一只几十万元还要等半年。"
                    "想自己研制钻头，钻头体、聚晶金刚石复合片和钻井试验都没有基础。",
     "industry_cluster": "先进装备与智能制造", "region": "临港经济技术开发区", "keywords": ["深海钻井", "PDC钻头", "进口替代"],
     "budget_wan": 150, "cooperation_mode": "合作开发", "contact": "周总 138****6610", "status": "征集中",
     "posted_at": "2021-06-20"},
]

SUPPLIES = [
    {"id": "S2021-201", "title": "注塑模具随形冷却水路设计与保压工艺优化", "platform": HIT,
     "description": "基于模流分析的随形冷却水路设计和多段保压参数优化方法，可显著减少注塑件缩痕、翘曲和气纹，"
                    "已在多家汽车零部件企业应用，良品率提升10个百分点以上。",
     "industry_cluster": "先进装备与智能制造", "maturity": "产业化", "keywords": ["注塑", "随形冷却", "缩痕", "模流分析"],
     "cooperation_mode": "技术服务", "price_wan": 30, "contact": "刘老师 138****2201", "posted_at": "2021-02-10"},
    {"id": "S2021-202", "title": "基于深度学习的工业产品表面缺陷视觉检测系统", "platform": SDU,
     "description": "采用深度学习和高分辨率工业相机，对注塑件、冲压件表面划痕、缺料、尺寸超差进行在线检测，"
                    "检出率99.5%，单件检测时间小于200毫秒。",
     "industry_cluster": "先进装备与智能制造", "maturity": "中试", "keywords": ["机器视觉", "深度学习", "缺陷检测"],
     "cooperation_mode": "合作开发", "price_wan": 50, "contact": "刘老师 138****2201", "posted_at": "2021-02-20"},
    {"id": "S2021-203", "title": "碳纤维复合材料热压罐与内压成型工艺", "platform": HIT,
     "description": "针对碳纤维复合材料构件孔隙、褶皱等缺陷，提供铺层优化设计与内压成型工艺包，孔隙率可控制在1%以下，"
                    "适用于自行车架、钓竿等运动器材。",
     "industry_cluster": "碳纤维等复合材料", "maturity": "产业化", "keywords": ["碳纤维", "内压成型", "孔隙率", "铺层设计"],
     "cooperation_mode": "技术转让", "price_wan": 60, "contact": "陈老师 139****3302", "posted_at": "2021-03-01"},
    {"id": "S2021-204", "title": "毫米波雷达人体姿态识别与跌倒报警", "platform": HIT,
     "description": "利用毫米波雷达点云识别人体姿态，无需摄像头即可检测跌倒并报警，保护隐私，"
                    "误报率低于3%，适合养老机构和家庭。",
     "industry_cluster": "新一代信息技术", "maturity": "中试", "keywords": ["毫米波雷达", "跌倒检测", "姿态识别"],
     "cooperation_mode": "技术许可", "price_wan": 20, "contact": "周老师 137****4403", "posted_at": "2021-03-12"},
    {"id": "S2021-205", "title": "海参内脏多糖与皂苷提取纯化技术", "platform": SDU,
     "description": "以海参加工副产物为原料，采用酶解-膜分离-层析联用工艺提取海参多糖和皂苷，纯度90%以上，"
                    "可用于保健食品和功能性食品原料。",
     "industry_cluster": "海洋生物与健康食品", "maturity": "中试", "keywords": ["海参", "多糖", "皂苷", "副产物利用"],
     "cooperation_mode": "技术转让", "price_wan": 70, "contact": "吴教授 136****5504", "posted_at": "2021-03-20"},
    {"id": "S2021-206", "title": "即食水产品超高压杀菌与复合保鲜技术", "platform": SDU,
     "description": "采用超高压非热杀菌结合天然复合保鲜剂，不添加化学防腐剂，即食水产品常温货架期可达12个月，"
                    "色泽和口感保持良好。",
     "industry_cluster": "海洋生物与健康食品", "maturity": "产业化", "keywords": ["超高压杀菌", "保鲜", "货架期", "水产品"],
     "cooperation_mode": "技术服务", "price_wan": 40, "contact": "吴教授 136****5504", "posted_at": "2021-04-02"},
    {"id": "S2021-207", "title": "纳米银抗菌涂层制备技术", "platform": SDU,
     "description": "在纺织品和无纺布表面原位生成纳米银抗菌涂层，抗菌率99.9%，耐洗50次以上，"
                    "已通过细胞毒性和皮肤刺激生物相容性测试。",
     "industry_cluster": "新医药与医疗器械", "maturity": "中试", "keywords": ["纳米银", "抗菌涂层", "医用敷料"],
     "cooperation_mode": "技术转让", "price_wan": 55, "contact": "郑老师 135****6605", "posted_at": "2021-04-15"},
    {"id": "S2021-208", "title": "高模量碳纤维预浸料及轻量化结构仿真", "platform": SDU,
     "description": "提供高模量碳纤维预浸料配方及有限元轻量化仿真服务，可在保证强度前提下减重15%-20%，"
                    "已应用于钓竿和球拍。",
     "industry_cluster": "碳纤维等复合材料", "maturity": "产业化", "keywords": ["预浸料", "轻量化", "有限元仿真", "钓竿"],
     "cooperation_mode": "技术服务", "price_wan": 35, "contact": "郑老师 135****6605", "posted_at": "2021-05-01"},
    {"id": "S2021-209", "title": "工业废水膜法处理与回用技术", "platform": "威海市环境科学研究院",
     "description": "采用超滤加反渗透双膜法处理电镀和印染废水，回用率达到70%，出水满足回用标准。",
     "industry_cluster": "先进装备与智能制造", "maturity": "产业化", "keywords": ["废水处理", "反渗透", "回用"],
     "cooperation_mode": "技术服务", "price_wan": 80, "contact": "钱工 133****7706", "posted_at": "2021-05-10"},
    {"id": "S2021-210", "title": "海洋药物先导化合物高通量筛选平台", "platform": "威海海洋生物医药研究院",
     "description": "建有海洋微生物和海洋生物提取物库，提供抗肿瘤、抗炎先导化合物的高通量筛选服务。",
     "industry_cluster": "新医药与医疗器械", "maturity": "实验室阶段", "keywords": ["海洋药物", "高通量筛选", "先导化合物"],
     "cooperation_mode": "技术服务", "price_wan": 15, "contact": "冯博士 132****8807", "posted_at": "2021-05-22"},
    {"id": "S2021-211", "title": "文旅景区智慧导览与客流预测系统", "platform": "威海文旅大数据中心",
     "description": "基于手机信令和票务数据预测景区客流，提供智慧导览小程序和拥堵预警，已在多个景区运行。",
     "industry_cluster": "康养旅游", "maturity": "产业化", "keywords": ["智慧旅游", "客流预测", "导览"],
     "cooperation_mode": "技术服务", "price_wan": 25, "contact": "陈主任 131****9908", "posted_at": "2021-06-05"},
    {"id": "S2021-212", "title": "服装面料数码印花色彩管理技术", "platform": "威海纺织服装创新中心",
     "description": "数码印花色彩管理和ICC特性文件制作方法，色差ΔE小于2，适用于户外运动服装面料。",
     "industry_cluster": "时尚与休闲运动产品", "maturity": "中试", "keywords": ["数码印花", "色彩管理", "面料"],
     "cooperation_mode": "技术许可", "price_wan": 18, "contact": "韩老师 130****0009", "posted_at": "2021-06-12"},
    {"id": "S2021-213", "title": "热敏打印头多级历史控制与温度自适应驱动技术", "platform": HIT,
     "description": "针对热敏打印过程中发热体热积累及环境温度变化引起的灰度不一致问题，建立发热点-陶瓷基板二维热传导简化模型，"
                    "提出基于前两行点阵历史与基板温度的多级脉宽补偿算法，可在Cortex-M级MCU上实时运行。实测-10℃~45℃范围内"
                    "光学密度波动≤0.08，连续打印3m条码等级保持ISO B级以上。已在2家标签机企业完成样机验证。",
     "industry_cluster": "新一代信息技术", "maturity": "中试", "keywords": ["热敏打印头", "历史控制", "脉宽调制", "温度补偿"],
     "cooperation_mode": "技术许可", "price_wan": 35, "contact": "白老师 138****6648", "posted_at": "2021-06-18"},
]

COOPERATIONS = [
    {"demand_id": "D2021-109", "supply_id": "S2021-213", "confirmed_at": "2021-07-09", "mode": "委托开发",
     "amount_wan": 32, "broker": "孙立明", "note": "打印头驱动时序与温度补偿算法移植到企业主控板。"},
]

# demand → the supply that solves it
TRUE_PAIRS = {
    "D2021-101": "S2021-201", "D2021-102": "S2021-202", "D2021-103": "S2021-205", "D2021-104": "S2021-206",
    "D2021-105": "S2021-203", "D2021-106": "S2021-207", "D2021-107": "S2021-208", "D2021-108": "S2021-204",
    "D2021-109": "S2021-213",
}
UNSOLVED = "D2021-110"

# name → (role, org)
USERS = {
    "enterprise": ("enterprise", HUALIAN),
    "other_enterprise": ("enterprise", HAIDA),
    "platform": ("platform", HIT),
    "other_platform": ("platform", SDU),
    "broker": ("broker", None),
    "admin": ("admin", None),
}
PASSWORD = "correct horse 2021"

# Who owns what, for the permission tables.
OWN_DEMAND = "D2021-101"           # HUALIAN's
OTHER_DEMAND = "D2021-103"         # HAIDA's
OWN_SUPPLY = "S2021-201"           # HIT's
OTHER_SUPPLY = "S2021-205"         # SDU's

# One demand and one supply with every field filled, as a file would carry them (importers, store, CLI).
DEMAND = {
    "id": "D-001", "title": "注塑件缩痕严重", "description": "车间注塑的外壳老是有缩痕，良品率只有八成。",
    "enterprise": "威海澜拓医疗器械有限公司", "industry_cluster": "新医药与医疗器械", "industry_chain": "医疗器械",
    "region": "火炬高技术产业开发区", "keywords": ["注塑", "缩痕", "良品率"], "budget_wan": 50,
    "cooperation_mode": "委托开发", "deadline": "2021-12-31", "contact": "王工 139****2817",
    "status": "征集中", "posted_at": "2021-03-15",
}
SUPPLY = {
    "id": "S-001", "title": "基于模流分析的注塑工艺优化", "description": "通过模流仿真与保压曲线优化消除缩痕。",
    "platform": "精密模具与成型技术中心", "industry_cluster": "新医药与医疗器械", "industry_chain": "医疗器械",
    "maturity": "产业化", "ip": "授权发明专利2项", "keywords": ["模流分析", "注塑"], "cooperation_mode": "技术服务",
    "price_wan": 20.5, "contact": "李老师 0631-****5120", "posted_at": "2021-02-01",
}


def load(db) -> dict[str, str]:
    """Write the set into a store: the records, the cooperation and the accounts; returns each
    account's API token by name. Both instances (api_support.py, site_support.py) start from this."""
    store.upsert_records(db, "demands", DEMANDS, actor="fixture")
    store.upsert_records(db, "supplies", SUPPLIES, actor="fixture")
    store.upsert_cooperations(db, COOPERATIONS, actor="fixture")
    return {name: auth.create_user(db, name, role, org, PASSWORD, actor="fixture")[2]
            for name, (role, org) in USERS.items()}
