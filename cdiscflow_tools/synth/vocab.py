"""Fixed vocabularies of the synthetic study: the only free-text values the generator types.

Every verbatim term the generator writes into `I.AETERM`, `I.CMTRT`, `I.MHTERM`, `I.ETIOLO`,
`I.EXREASND` or `I.DTHCAUSO` comes from these tables (apart from the planted identifier cases),
so a coding dictionary built from them covers the whole synthetic drop.
"""

from __future__ import annotations

from typing import NamedTuple


class AeTerm(NamedTuple):
    """An adverse-event concept: verbatim in English and Chinese, MedDRA-style PT and SOC."""

    en: str
    zh: str
    decod: str
    bodsys: str


class CmTerm(NamedTuple):
    """A medication: verbatims, standardized name, class, usual indication, dose, unit and route codes."""

    en: str
    zh: str
    decod: str
    atc_class: str
    indication_en: str
    indication_zh: str
    dose: float
    dosu: str  # CL.DOSU coded value
    route: str  # CL.ROUTE coded value


class MhTerm(NamedTuple):
    """A medical-history concept: verbatims in English and Chinese and a decoded term."""

    en: str
    zh: str
    decod: str
    bodsys: str


class TextPair(NamedTuple):
    """A short free-text phrase typed in English or Chinese."""

    en: str
    zh: str


_GEN = "General disorders and administration site conditions"
_GI = "Gastrointestinal disorders"
_INF = "Infections and infestations"
_NERV = "Nervous system disorders"
_MET = "Metabolism and nutrition disorders"
_SKIN = "Skin and subcutaneous tissue disorders"
_RENAL = "Renal and urinary disorders"
_BLOOD = "Blood and lymphatic system disorders"

AE_TERMS: tuple[AeTerm, ...] = (
    AeTerm("Fever", "发热", "Pyrexia", _GEN),
    AeTerm("Chills", "寒战", "Chills", _GEN),
    AeTerm("Fatigue", "乏力", "Fatigue", _GEN),
    AeTerm("Infusion site pain", "输液部位疼痛", "Infusion site pain", _GEN),
    AeTerm("Rash", "皮疹", "Rash", _SKIN),
    AeTerm("Pruritus", "皮肤瘙痒", "Pruritus", _SKIN),
    AeTerm("Nausea", "恶心", "Nausea", _GI),
    AeTerm("Vomiting", "呕吐", "Vomiting", _GI),
    AeTerm("Diarrhoea", "腹泻", "Diarrhoea", _GI),
    AeTerm("Abdominal distension", "腹胀", "Abdominal distension", _GI),
    AeTerm("Upper gastrointestinal bleeding", "上消化道出血", "Upper gastrointestinal haemorrhage", _GI),
    AeTerm("Ascites worsening", "腹水加重", "Ascites", _GI),
    AeTerm("Hepatic encephalopathy", "肝性脑病", "Hepatic encephalopathy", _NERV),
    AeTerm("Headache", "头痛", "Headache", _NERV),
    AeTerm("Dizziness", "头晕", "Dizziness", _NERV),
    AeTerm("Insomnia", "失眠", "Insomnia", "Psychiatric disorders"),
    AeTerm("Spontaneous bacterial peritonitis", "自发性细菌性腹膜炎", "Peritonitis bacterial", _INF),
    AeTerm("Pneumonia", "肺部感染", "Pneumonia", _INF),
    AeTerm("Urinary tract infection", "尿路感染", "Urinary tract infection", _INF),
    AeTerm("Sepsis", "脓毒症", "Sepsis", _INF),
    AeTerm("Oral candidiasis", "口腔念珠菌感染", "Oral candidiasis", _INF),
    AeTerm("Hepatorenal syndrome", "肝肾综合征", "Hepatorenal syndrome", _RENAL),
    AeTerm("Acute kidney injury", "急性肾损伤", "Acute kidney injury", _RENAL),
    AeTerm("Hyponatraemia", "低钠血症", "Hyponatraemia", _MET),
    AeTerm("Hypokalaemia", "低钾血症", "Hypokalaemia", _MET),
    AeTerm("Hypoalbuminaemia", "低蛋白血症", "Hypoalbuminaemia", _MET),
    AeTerm("Liver failure", "肝衰竭", "Hepatic failure", "Hepatobiliary disorders"),
    AeTerm("Cough", "咳嗽", "Cough", "Respiratory, thoracic and mediastinal disorders"),
    AeTerm("Anaemia", "贫血", "Anaemia", _BLOOD),
    AeTerm("Thrombocytopenia", "血小板减少", "Thrombocytopenia", _BLOOD),
)

CM_TERMS: tuple[CmTerm, ...] = (
    CmTerm("Entecavir", "恩替卡韦", "ENTECAVIR", "Antivirals", "Chronic hepatitis B", "慢性乙型肝炎", 0.5, "1", "1"),
    CmTerm("Tenofovir disoproxil", "替诺福韦酯", "TENOFOVIR DISOPROXIL FUMARATE", "Antivirals",
           "Chronic hepatitis B", "慢性乙型肝炎", 300, "1", "1"),
    CmTerm("Tenofovir alafenamide", "丙酚替诺福韦", "TENOFOVIR ALAFENAMIDE", "Antivirals",
           "Chronic hepatitis B", "慢性乙型肝炎", 25, "1", "1"),
    CmTerm("Lactulose", "乳果糖", "LACTULOSE", "Laxatives", "Hepatic encephalopathy", "肝性脑病", 15, "3", "1"),
    CmTerm("Rifaximin", "利福昔明", "RIFAXIMIN", "Antibiotics", "Hepatic encephalopathy", "肝性脑病", 400, "1", "1"),
    CmTerm("L-ornithine L-aspartate", "门冬氨酸鸟氨酸", "ORNITHINE ASPARTATE", "Liver therapy",
           "Hyperammonaemia", "高氨血症", 10, "2", "2"),
    CmTerm("Albumin", "人血白蛋白", "ALBUMIN HUMAN", "Plasma substitutes", "Hypoalbuminaemia", "低蛋白血症",
           10, "2", "2"),
    CmTerm("Fresh frozen plasma", "新鲜冰冻血浆", "PLASMA", "Blood products", "Coagulopathy", "凝血功能障碍",
           200, "3", "2"),
    CmTerm("Vitamin K1", "维生素K1", "PHYTOMENADIONE", "Vitamin K", "Coagulopathy", "凝血功能障碍", 10, "1", "2"),
    CmTerm("Furosemide", "呋塞米", "FUROSEMIDE", "Diuretics", "Ascites", "腹水", 20, "1", "1"),
    CmTerm("Spironolactone", "螺内酯", "SPIRONOLACTONE", "Diuretics", "Ascites", "腹水", 40, "1", "1"),
    CmTerm("Ceftriaxone", "头孢曲松", "CEFTRIAXONE", "Antibiotics", "Infection", "感染", 2, "2", "2"),
    CmTerm("Piperacillin-tazobactam", "哌拉西林他唑巴坦", "PIPERACILLIN;TAZOBACTAM", "Antibiotics",
           "Infection", "感染", 4.5, "2", "2"),
    CmTerm("Reduced glutathione", "还原型谷胱甘肽", "GLUTATHIONE", "Liver therapy", "Liver protection", "保肝",
           1.8, "2", "2"),
    CmTerm("Magnesium isoglycyrrhizinate", "异甘草酸镁", "MAGNESIUM ISOGLYCYRRHIZINATE", "Liver therapy",
           "Liver protection", "保肝", 150, "1", "2"),
    CmTerm("Ademetionine", "丁二磺酸腺苷蛋氨酸", "ADEMETIONINE", "Liver therapy", "Cholestasis", "胆汁淤积",
           1, "2", "2"),
    CmTerm("Omeprazole", "奥美拉唑", "OMEPRAZOLE", "Proton pump inhibitors", "Stress ulcer prophylaxis",
           "预防应激性溃疡", 40, "1", "2"),
    CmTerm("Terlipressin", "特利加压素", "TERLIPRESSIN", "Vasopressin analogues", "Hepatorenal syndrome",
           "肝肾综合征", 1, "1", "2"),
    CmTerm("Propranolol", "普萘洛尔", "PROPRANOLOL", "Beta blockers", "Portal hypertension", "门脉高压",
           10, "1", "1"),
    CmTerm("Insulin", "胰岛素", "INSULIN", "Insulins", "Type 2 diabetes", "2型糖尿病", 8, "4", "3"),
    CmTerm("Metformin", "二甲双胍", "METFORMIN", "Biguanides", "Type 2 diabetes", "2型糖尿病", 500, "1", "1"),
    CmTerm("Amlodipine", "氨氯地平", "AMLODIPINE", "Calcium channel blockers", "Hypertension", "高血压",
           5, "1", "1"),
)

MH_TERMS: tuple[MhTerm, ...] = (
    MhTerm("Type 2 diabetes", "2型糖尿病", "Type 2 diabetes mellitus", _MET),
    MhTerm("Hypertension", "高血压", "Hypertension", "Vascular disorders"),
    MhTerm("Oesophageal varices", "食管胃底静脉曲张", "Oesophageal varices", _GI),
    MhTerm("Chronic gastritis", "慢性胃炎", "Gastritis", _GI),
    MhTerm("Cholelithiasis", "胆囊结石", "Cholelithiasis", "Hepatobiliary disorders"),
    MhTerm("Hyperlipidaemia", "高脂血症", "Hyperlipidaemia", _MET),
    MhTerm("Coronary heart disease", "冠心病", "Coronary artery disease", "Cardiac disorders"),
    MhTerm("Gout", "痛风", "Gout", _MET),
    MhTerm("Appendicectomy", "阑尾切除术后", "Appendicectomy", "Surgical and medical procedures"),
    MhTerm("Hypothyroidism", "甲状腺功能减退", "Hypothyroidism", "Endocrine disorders"),
    MhTerm("Renal cyst", "肾囊肿", "Renal cyst", _RENAL),
    MhTerm("Splenomegaly", "脾大", "Splenomegaly", _BLOOD),
)

# The fatal adverse event (by decoded term) recorded for each CL.DTHCAUS code; "9" picks any.
FATAL_AE_BY_CAUSE: dict[str, str] = {
    "1": "Hepatic failure",
    "2": "Sepsis",
    "3": "Upper gastrointestinal haemorrhage",
    "4": "Hepatorenal syndrome",
}

DEATH_CAUSE_OTHER: tuple[TextPair, ...] = (
    TextPair("Cerebral haemorrhage", "脑出血"),
    TextPair("Pulmonary embolism", "肺栓塞"),
    TextPair("Cardiac arrest", "心脏骤停"),
    TextPair("Respiratory failure", "呼吸衰竭"),
)

ETIOLOGY_OTHER: tuple[TextPair, ...] = (
    TextPair("HBV with alcohol-related liver disease", "乙肝合并酒精性肝病"),
    TextPair("Wilson disease", "肝豆状核变性"),
    TextPair("Cryptogenic cirrhosis", "隐源性肝硬化"),
    TextPair("Schistosomal liver disease", "血吸虫性肝病"),
)

INFUSION_NOT_GIVEN: tuple[TextPair, ...] = (
    TextPair("Fever on infusion day", "输注当天发热"),
    TextPair("Patient refused", "患者拒绝"),
    TextPair("Severe infection", "严重感染"),
    TextPair("Study kit not available", "药物未到"),
    TextPair("Clinical deterioration", "病情加重"),
)

NOT_TREATED: tuple[TextPair, ...] = (
    TextPair("Consent withdrawn before infusion", "输注前撤回知情同意"),
    TextPair("Clinical deterioration before infusion", "输注前病情加重"),
)

# Chinese names: (character, pinyin initial). All characters are in GB2312, hence GB18030.
SURNAMES: tuple[tuple[str, str], ...] = (
    ("王", "W"), ("李", "L"), ("张", "Z"), ("刘", "L"), ("陈", "C"), ("杨", "Y"), ("黄", "H"), ("赵", "Z"),
    ("吴", "W"), ("周", "Z"), ("徐", "X"), ("孙", "S"), ("马", "M"), ("朱", "Z"), ("胡", "H"), ("郭", "G"),
    ("何", "H"), ("高", "G"), ("林", "L"), ("罗", "L"), ("郑", "Z"), ("梁", "L"), ("谢", "X"), ("宋", "S"),
    ("唐", "T"), ("许", "X"), ("韩", "H"), ("冯", "F"), ("邓", "D"), ("曹", "C"), ("彭", "P"), ("田", "T"),
)
GIVEN_CHARS: tuple[tuple[str, str], ...] = (
    ("伟", "W"), ("芳", "F"), ("娜", "N"), ("敏", "M"), ("静", "J"), ("丽", "L"), ("强", "Q"), ("磊", "L"),
    ("军", "J"), ("洋", "Y"), ("勇", "Y"), ("艳", "Y"), ("杰", "J"), ("娟", "J"), ("涛", "T"), ("明", "M"),
    ("超", "C"), ("秀", "X"), ("霞", "X"), ("平", "P"), ("刚", "G"), ("桂", "G"), ("英", "Y"), ("华", "H"),
    ("文", "W"), ("建", "J"), ("国", "G"), ("红", "H"), ("玉", "Y"), ("兰", "L"), ("峰", "F"), ("鹏", "P"),
    ("辉", "H"), ("斌", "B"), ("波", "B"), ("宁", "N"), ("凯", "K"), ("浩", "H"), ("亮", "L"), ("林", "L"),
)


def verbatim_dictionary() -> dict[str, tuple[str, str, str]]:
    """Map every verbatim the generator can write to (domain, decoded term, class or body system)."""
    out: dict[str, tuple[str, str, str]] = {}
    for ae in AE_TERMS:
        out[ae.en] = out[ae.zh] = ("AE", ae.decod, ae.bodsys)
    for cm in CM_TERMS:
        out[cm.en] = out[cm.zh] = ("CM", cm.decod, cm.atc_class)
    for mh in MH_TERMS:
        out[mh.en] = out[mh.zh] = ("MH", mh.decod, mh.bodsys)
    return out
