namespace FalconMamba.Formats.Safetensors;

/// <summary>Element types of the safetensors format (huggingface/safetensors <c>Dtype</c>, SPEC.md §3.3).</summary>
public static class SafetensorsDType
{
    /// <summary>Byte size of each known dtype string, or 0 when unknown.</summary>
    public static int SizeOf(string dtype) => dtype switch
    {
        "BOOL" or "U8" or "I8" or "F8_E5M2" or "F8_E4M3" => 1,
        "I16" or "U16" or "F16" or "BF16" => 2,
        "I32" or "U32" or "F32" => 4,
        "F64" or "I64" or "U64" => 8,
        _ => 0,
    };
}
